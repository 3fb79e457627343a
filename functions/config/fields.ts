/**
 * What every section of the configuration is made of: the error it throws, the environment it reads, and the
 * zod fields for the kinds of values alertfence takes (booleans, Go durations, counts or percentages, lists).
 */
import * as z from 'zod';

/** A configuration value is wrong: the function refuses to start and says what to fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** An environment: variable names to values. The one `Env` of alertfence. */
export type Env = Record<string, string | undefined>;

/** Parses `90s`, `5m`, `1h30m`, `250ms` (Go-style, as in Alertmanager and Prometheus) into milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(ms|s|m|h))+$/.test(trimmed)) {
    throw new ConfigError(`"${text}" is not a duration; use e.g. 30s, 5m, 1h30m`);
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(amount) * (units[unit as string] ?? 0);
  }
  return total;
}

/** A limit given as a count (`3`) or a percentage of the nodes in scope (`40%`). */
export type Limit = { kind: 'count'; value: number } | { kind: 'percent'; value: number };

/** Parses a {@link Limit}: `3` or `40%`. */
export function parseLimit(text: string): Limit {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!match) throw new ConfigError(`"${text}" is not a count or a percentage; use e.g. 3 or 40%`);
  const value = Number(match[1]);
  if (match[2] === '%') {
    if (value > 100) throw new ConfigError(`"${text}" is over 100%`);
    return { kind: 'percent', value };
  }
  if (!Number.isInteger(value)) throw new ConfigError(`"${text}" must be a whole number of nodes`);
  return { kind: 'count', value };
}

/** The items of a list variable: comma- or newline-separated, blanks dropped. */
export const list = (text: string) =>
  text
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** A switch: `true`, `1`, `yes` or `false`, `0`, `no` (any case); anything else names the variable. */
export const bool = (name: string) =>
  z.string().transform((text, ctx) => {
    const value = text.trim().toLowerCase();
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    ctx.addIssue({ code: 'custom', message: `${name} must be true or false, not "${text}"` });
    return z.NEVER;
  });

/** A value read by `parse`: the `ConfigError` it throws becomes the variable's problem. */
const parsedBy = <T>(parse: (text: string) => T) =>
  z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

/** A Go-style duration, in milliseconds. */
export const duration = parsedBy(parseDuration);

/** A duration with a floor: below it the function could start but never work (or would lose a guard). */
export const durationAtLeast = (minMs: number, why: string) =>
  duration.pipe(z.number().min(minMs, `must be at least ${minMs / 1000}s: ${why}`));

/** A {@link Limit}. */
export const limit = parsedBy(parseLimit);

/** A whole number from 1. */
export const positiveInt = z
  .string()
  .regex(/^\d+$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1));

/** An absolute URL whose scheme is one of `schemes`; the value is echoed, so never use it for a secret. */
export const url = (schemes: readonly string[] = ['http:', 'https:']) =>
  z.string().refine((text) => URL.canParse(text) && schemes.includes(new URL(text).protocol), {
    error: (issue) => `"${issue.input}" is not an ${schemes.map((s) => s.slice(0, -1)).join(' or ')} URL`,
  });
