/**
 * The `alertfence` command line: its commands and flags (commander), what each flag means, and how every
 * command ends in one exit code. Arguments are checked here, before any request; the commands in `commands/`
 * only talk to the API and show what it answered.
 */
import { Command, CommanderError } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { AlertfenceClient } from './client.js';
import { fenceCommand } from './commands/fence.js';
import { historyCommand } from './commands/history.js';
import { pauseCommand, resumeCommand } from './commands/pause.js';
import { statusCommand } from './commands/status.js';
import type { CommandContext, Io } from './context.js';
import { ApiError, exitCodeOf, isApiErrorBody } from './errors.js';
import { EXIT, EXIT_CODES_HELP, type ExitCode } from './exit-codes.js';
import * as input from './input.js';
import { Writer, wantsColour } from './output.js';
import { noToken, resolveToken } from './token.js';

/** Where alertfence listens when neither `--url` nor `ALERTFENCE_URL` says: the Quick start's server. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';
/** How long a command may take unless `--timeout` says otherwise. */
const DEFAULT_TIMEOUT = '30s';
/** How long `fence --wait` follows a fence: longer than a fence's power-off, release and power-on timeouts. */
const DEFAULT_WAIT_TIMEOUT = '15m';
/** The longest one request may take, within the command's timeout. */
const REQUEST_TIMEOUT_MS = 30_000;

interface FenceFlags {
  dryRun?: boolean;
  force?: boolean;
  reason?: string;
  wait?: boolean;
}

interface PauseFlags {
  reason: string;
  for?: string;
  until?: string;
  by?: string;
}

interface GlobalOptions {
  url?: string;
  tokenFile?: string;
  json?: boolean;
  timeout?: string;
  color: boolean;
}

const HELP_AFTER = `
Environment:
  ALERTFENCE_URL         alertfence's address (default ${DEFAULT_URL}); --url wins
  ALERTFENCE_TOKEN       a bearer token (one of the server's ALERTFENCE_TOKENS)
  ALERTFENCE_TOKEN_FILE  a file whose first line is the token; --token-file wins
  NO_COLOR               no colours (there are none unless the output is a terminal)

Examples:
  alertfence status
  alertfence fence worker-1 --dry-run
  alertfence fence worker-1 --wait --reason "kernel panic on the console"
  alertfence history worker-1 --limit 5
  alertfence pause --reason "cluster upgrade" --for 2h
  alertfence resume

${EXIT_CODES_HELP}
`;

/**
 * Runs the command line `argv` (without `node` and the script) and answers its exit code. Never exits the
 * process itself and never throws: every failure is a message on stderr and an exit code.
 *
 * @example
 * process.exitCode = await run(process.argv.slice(2), processIo());
 */
export async function run(argv: string[], io: Io): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    // Commander's own exits: help and the version are 0; a flag or argument it refused, usage (2).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
  return exitCode;
}

function buildProgram(io: Io, done: (code: ExitCode) => void): Command {
  const program = new Command('alertfence');
  program
    .description("alertfence's command line: its status, fence a node, a node's fences, pause and resume")
    .version(packageJson.version, '-V, --version')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride()
    .showHelpAfterError('(alertfence --help shows the commands and flags)')
    .option('--url <url>', `alertfence's address [env: ALERTFENCE_URL] (default: ${DEFAULT_URL})`)
    .option('--token-file <path>', 'a file whose first line is the bearer token [env: ALERTFENCE_TOKEN_FILE]')
    .option('--json', "print the API's JSON, one document a line, for scripts")
    .option(
      '--timeout <duration>',
      `give up after this long (default: ${DEFAULT_TIMEOUT}; fence --wait: ${DEFAULT_WAIT_TIMEOUT})`,
    )
    .option('--no-color', 'no colours, even on a terminal')
    .addHelpText('after', HELP_AFTER);

  /** Runs a command: its context built and checked first, every error turned into a message and a code. */
  const runCommand = async (
    command: Command,
    handler: (context: CommandContext) => Promise<ExitCode>,
    defaultTimeout = DEFAULT_TIMEOUT,
  ) => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    let context: CommandContext | undefined;
    try {
      context = contextOf(io, globals, defaultTimeout);
      done(await handler(context));
    } catch (error) {
      const err = context?.err ?? new Writer(io.stderr, wantsColour(io.stderr, io.env, !globals.color));
      done(report(err, context, error));
    }
  };

  program
    .command('status')
    .description('readiness, the pause, the fences running, failed or waiting, the last that succeeded')
    .action((_options, command: Command) => runCommand(command, statusCommand));

  program
    .command('fence')
    .description('fence a node: power it off, release what it held, delete its Node, power it on')
    .argument('<node>', 'the Node to fence')
    .option('--dry-run', 'only plan: print what the fence would do, change nothing')
    .option('--force', 'fence even a node that looks healthy (Ready): only if you know it is not')
    .option('--reason <text>', 'why, for the journal and the Events (default: "manual request")')
    .option('--wait', 'follow the fence, a line per phase, until it ends (or --timeout)')
    .action((node: string, options: FenceFlags, command: Command) =>
      runCommand(
        command,
        (context) =>
          fenceCommand(context, input.nodeName(node), {
            dryRun: options.dryRun === true,
            force: options.force === true,
            reason: options.reason === undefined ? undefined : input.text(options.reason, '--reason', 1000),
            // A plan has nothing to wait for.
            wait: options.wait === true && options.dryRun !== true,
          }),
        options.wait ? DEFAULT_WAIT_TIMEOUT : DEFAULT_TIMEOUT,
      ),
    );

  program
    .command('history')
    .description("a node's fences, the newest first: trigger, times, outcome, forced, volumes detached")
    .argument('<node>', 'the Node')
    .option('--limit <n>', `at most this many (1 to ${input.MAX_HISTORY}; default: all kept)`)
    .action((node: string, options: { limit?: string }, command: Command) =>
      runCommand(command, (context) =>
        historyCommand(context, input.nodeName(node), {
          limit: options.limit === undefined ? undefined : input.limit(options.limit),
        }),
      ),
    );

  program
    .command('pause')
    .description(
      'pause alertfence cluster-wide: no fence starts, none powers off, until it ends or is lifted',
    )
    .requiredOption('--reason <text>', 'why (everyone the pause refuses is told)')
    .option('--for <duration>', 'how long, e.g. 30m, 2h (at most 30 days)')
    .option('--until <time>', 'until when, RFC 3339, e.g. 2026-12-24T18:00:00Z')
    .option('--by <name>', 'who pauses, for the record (default: user@host)')
    .action((options: PauseFlags, command: Command) =>
      runCommand(command, (context) =>
        pauseCommand(context, {
          reason: input.text(options.reason, '--reason', 500),
          ...input.pauseEnd(options, context.now()),
          by: input.text(options.by ?? io.user(), '--by', 200),
        }),
      ),
    );

  program
    .command('resume')
    .description('lift the pause')
    .action((_options, command: Command) => runCommand(command, resumeCommand));

  return program;
}

/** The context of a command from the global flags and the environment; a bad one is a usage error. */
function contextOf(io: Io, globals: GlobalOptions, defaultTimeout: string): CommandContext {
  const url = input.baseUrl(globals.url ?? (io.env.ALERTFENCE_URL || DEFAULT_URL));
  const timeoutText = globals.timeout ?? defaultTimeout;
  const timeoutMs = input.duration(timeoutText, '--timeout');
  const token = resolveToken({ tokenFile: globals.tokenFile, env: io.env, readFile: io.readFile });
  // Every command reads or changes something under /v1, which needs the token.
  if (token === undefined) throw noToken();
  const deadline = io.now() + timeoutMs;
  return {
    client: new AlertfenceClient({
      baseUrl: url,
      token,
      fetch: io.fetch,
      now: io.now,
      deadline,
      requestTimeoutMs: Math.min(REQUEST_TIMEOUT_MS, timeoutMs),
      userAgent: `alertfence-cli/${packageJson.version}`,
    }),
    out: new Writer(io.stdout, wantsColour(io.stdout, io.env, !globals.color)),
    err: new Writer(io.stderr, wantsColour(io.stderr, io.env, !globals.color)),
    json: globals.json === true,
    now: io.now,
    sleep: io.sleep,
    deadline,
    timeoutText,
  };
}

/** Says what went wrong on stderr (and, with --json, puts the API's error body on stdout); answers the code. */
function report(err: Writer, context: CommandContext | undefined, error: unknown): ExitCode {
  if (context?.json && error instanceof ApiError && isApiErrorBody(error.body)) {
    context.out.line(JSON.stringify(error.body));
  }
  const known = exitCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && !('exitCode' in error)) {
    // Not one of ours: a bug in the CLI. Say so, with where.
    err.line(`alertfence: unexpected error: ${error.stack ?? message}`);
  } else {
    err.line(`${err.tone('red', 'alertfence:')} ${message}`);
  }
  return known;
}
