/** One structured JSON log line per event; fields named like the journal and the API. */
export interface LogFields {
  requestId?: string;
  node?: string;
  fence?: string;
  phase?: string;
  outcome?: string;
  reason?: string;
  durationMs?: number;
  [key: string]: unknown;
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

/** Keys whose values never reach a log, whatever the caller passes. */
const SECRET_KEY = /token|secret|password|authorization|credential|cookie|x-amz-security/i;

/** Deeper than this, a value is cut: a log line is for people, and a deep value could hide a secret. */
const MAX_DEPTH = 6;

/**
 * Replaces secret-looking values, recursively, so no token or credential is ever written. Values nested
 * past `MAX_DEPTH` and cycles are cut, never passed through unmasked; an object referenced twice, not in a
 * cycle, is shown both times.
 */
export function redact(value: unknown, depth = 0, ancestors: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[truncated]';
  // Only the objects on the path from the root make a cycle; siblings may share a reference.
  if (ancestors.has(value)) return '[circular]';
  ancestors.add(value);
  try {
    return redactObject(value, depth, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

function redactObject(value: object, depth: number, ancestors: WeakSet<object>): unknown {
  if (value instanceof Error) {
    return {
      name: value.name,
      message: value.message,
      ...(value.cause ? { cause: redact(value.cause, depth + 1, ancestors) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, ancestors));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      SECRET_KEY.test(key) ? '[redacted]' : redact(item, depth + 1, ancestors),
    ]),
  );
}

export function createLogger(
  options: { level?: Level; write?: (line: string) => void; base?: LogFields; now?: () => number } = {},
): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const base = options.base ?? {};
  const emit = (level: Level, msg: string, fields?: LogFields) => {
    if (LEVELS[level] < threshold) return;
    const record = { time: new Date(now()).toISOString(), level, msg, ...base, ...(fields ?? {}) };
    write(JSON.stringify(redact(record)));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
  };
}

/** What a process warning becomes in the log: its name, code and text, each a field of one JSON line. */
function warningFields(warning: Error & { code?: unknown; detail?: unknown }): LogFields {
  return {
    warning: {
      name: warning.name,
      message: warning.message,
      ...(typeof warning.code === 'string' ? { code: warning.code } : {}),
      ...(typeof warning.detail === 'string' ? { detail: warning.detail } : {}),
    },
  };
}

/** The process's command-line flags, those given in `NODE_OPTIONS` included. */
function nodeFlags(target: NodeJS.Process): string[] {
  return [...target.execArgv, ...(target.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
}

/**
 * Which warnings the process was told to keep quiet, as Node's own printer reads them: all of them with
 * `--no-warnings` or `NODE_NO_WARNINGS=1`, some names or codes with `--disable-warning`.
 */
function quietWarnings(target: NodeJS.Process): { all: boolean; names: Set<string> } {
  const flags = nodeFlags(target);
  const names = new Set<string>();
  flags.forEach((flag, index) => {
    if (flag.startsWith('--disable-warning=')) names.add(flag.slice('--disable-warning='.length));
    else if (flag === '--disable-warning' && flags[index + 1]) names.add(flags[index + 1] as string);
  });
  return { all: target.env.NODE_NO_WARNINGS === '1' || flags.includes('--no-warnings'), names };
}

/**
 * Writes the process's warnings (`process.emitWarning`: deprecations, experimental features, the AWS SDK's
 * "NodeVersionSupportWarning" on Node 20) through `log` as one JSON line each, instead of Node's own
 * multi-line text on stderr, which a log pipeline that reads JSON lines cannot parse. Node prints warnings
 * from a `'warning'` listener that it adds at start (lib/internal/process/warning.js); the capture takes the
 * listeners it finds off and puts them back when released, so call it where the process starts, as
 * entrypoints do, not inside a process that others share. The quiet flags Node honours are honoured.
 *
 * @example
 * const release = captureProcessWarnings(runtime.log);
 */
export function captureProcessWarnings(log: Logger, target: NodeJS.Process = process): () => void {
  const quiet = quietWarnings(target);
  const printers = target.listeners('warning');
  for (const printer of printers) target.off('warning', printer);
  const onWarning = (warning: Error & { code?: unknown }) => {
    if (quiet.all || quiet.names.has(warning.name)) return;
    if (typeof warning.code === 'string' && quiet.names.has(warning.code)) return;
    if (warning.name === 'DeprecationWarning' && target.noDeprecation) return;
    log.warn('process warning', warningFields(warning));
  };
  target.on('warning', onWarning);
  return () => {
    target.off('warning', onWarning);
    for (const printer of printers) target.on('warning', printer);
  };
}
