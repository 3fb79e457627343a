/**
 * How the CLI writes: plain lines and tables for people, colours only on a terminal (never with `NO_COLOR`,
 * `TERM=dumb` or `--no-color`), and times the same way everywhere (UTC, to the second, plus "3m ago").
 */

/** Where the CLI writes: stdout or stderr, or a test's stand-in. */
export interface Sink {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
}

const SGR = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;

export type Tone = keyof typeof SGR;

/**
 * Whether to colour what goes to `sink`: only a terminal, and never when the user said no
 * (https://no-color.org: `NO_COLOR` set to anything but the empty string).
 */
export function wantsColour(
  sink: Sink,
  env: Record<string, string | undefined>,
  noColorFlag: boolean,
): boolean {
  if (noColorFlag || sink.isTTY !== true) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

/** One stream's writer: lines, and text in a tone when colours are on. */
export class Writer {
  constructor(
    private readonly sink: Sink,
    readonly colour: boolean,
  ) {}

  line(text = ''): void {
    this.sink.write(`${text}\n`);
  }

  tone(tone: Tone, text: string): string {
    if (!this.colour || text === '') return text;
    const [on, off] = SGR[tone];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  }

  /** A table: a header row, then rows, columns padded to their widest cell (colour codes not counted). */
  table(header: string[], rows: string[][]): void {
    const widths = header.map((cell, column) =>
      Math.max(visible(cell), ...rows.map((row) => visible(row[column] ?? ''))),
    );
    const render = (cells: string[]) =>
      cells
        .map((cell, column) =>
          column === cells.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - visible(cell)),
        )
        .join('  ')
        .trimEnd();
    this.line(this.tone('bold', render(header)));
    for (const row of rows) this.line(render(row));
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escape codes is the point.
const ANSI = /\u001b\[[0-9;]*m/g;

/** Width of a cell as the terminal shows it. */
function visible(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

/** An API time to the second, in UTC: `2026-12-03T15:49:42Z`. */
export function at(iso: string | undefined): string {
  if (!iso) return '-';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** How long ago an API time was: `42s ago`, `3m ago`, `5h ago`, `2d ago`. */
export function ago(iso: string | undefined, now: number): string {
  if (!iso) return '-';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return '-';
  const elapsed = now - ms;
  // Ahead, a part-unit counts whole: a pause of 30 min shows "in 30m", not "in 29m", a moment after it began.
  if (elapsed < 0) return `in ${span(Math.ceil(-elapsed / 1000) * 1000, true)}`;
  return `${span(elapsed, true)} ago`;
}

/**
 * A duration for people: `850ms`, `12.3s`, `4m05s`, `2h03m`, `3d04h`; `coarse` drops the smaller unit
 * (`4m`, `2h`).
 */
export function span(ms: number, coarse = false): string {
  if (ms < 1000) return coarse ? `${Math.floor(ms / 1000)}s` : `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return coarse ? `${Math.floor(s)}s` : `${(Math.floor(s * 10) / 10).toFixed(1)}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return coarse ? `${minutes}m` : `${minutes}m${pad(Math.floor(s % 60))}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return coarse ? `${hours}h` : `${hours}h${pad(minutes % 60)}m`;
  const days = Math.floor(hours / 24);
  return coarse ? `${days}d` : `${days}d${pad(hours % 24)}h`;
}

/** The time between two API times, or `-` when either is missing. */
export function between(from: string | undefined, to: string | undefined): string {
  if (!from || !to) return '-';
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isNaN(ms) ? '-' : span(Math.max(0, ms));
}
