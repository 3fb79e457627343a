import { describe, expect, it } from 'vitest';
import { ago, at, span, Writer, wantsColour } from '../../../cli/output.js';

describe('cli output', () => {
  it.each([
    [true, {}, false, true],
    [false, {}, false, false],
    [undefined, {}, false, false],
    [true, { NO_COLOR: '1' }, false, false],
    [true, { NO_COLOR: '' }, false, true],
    [true, { TERM: 'dumb' }, false, false],
    [true, {}, true, false],
  ])('should colour a sink with isTTY %s, env %o, --no-color %s: %s', (isTTY, env, noColor, expected) => {
    // Act
    const colour = wantsColour({ write: () => true, isTTY }, env, noColor);

    // Assess
    expect(colour).toBe(expected);
  });

  it('should pad table columns by what shows, not by the colour codes', () => {
    // Prepare
    let text = '';
    const writer = new Writer({ write: (chunk: string) => (text += chunk) }, true);

    // Act
    writer.table(
      ['NODE', 'STATUS', 'NOTE'],
      [
        ['worker-10', writer.tone('red', 'failed'), 'x'],
        ['w-2', writer.tone('green', 'ok'), 'y'],
      ],
    );

    // Assess
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the codes are stripped to see the layout.
    const shown = text.replace(/\u001b\[[0-9;]*m/g, '').split('\n');
    expect(shown).toEqual(['NODE       STATUS  NOTE', 'worker-10  failed  x', 'w-2        ok      y', '']);
  });

  it.each([
    [850, false, '850ms'],
    [12_345, false, '12.3s'],
    [245_000, false, '4m05s'],
    [7_380_000, false, '2h03m'],
    [273_600_000, false, '3d04h'],
    [245_000, true, '4m'],
    [42_000, true, '42s'],
  ])('should write %i ms (coarse: %s) as %s', (ms, coarse, expected) => {
    // Act
    const text = span(ms, coarse);

    // Assess
    expect(text).toBe(expected);
  });

  it('should write API times in UTC to the second, and how long ago', () => {
    // Prepare
    const now = Date.parse('2026-11-22T10:00:00Z');

    // Act
    const when = at('2026-11-22T11:49:42.123+02:00');
    const before = ago('2026-11-22T09:57:00Z', now);
    const ahead = ago('2026-11-22T12:00:00Z', now);
    const almost = ago('2026-11-22T10:29:59.995Z', now);

    // Assess
    expect(when).toBe('2026-11-22T09:49:42Z');
    expect(before).toBe('3m ago');
    expect(ahead).toBe('in 2h');
    expect(almost).toBe('in 30m');
  });
});
