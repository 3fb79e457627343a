/** The e2e runs' order checks: milestones all seen, each no later than the next (within the sampling slack). */
import { expect } from 'vitest';
import type { MilestoneKey, Timeline } from './timeline.js';

/**
 * Asserts that every milestone of `chain` was seen and that each came no later than the next, allowing
 * `slackMs` for a milestone the harness sees by polling (one pass late on a loaded machine).
 */
export function expectInOrder(
  timeline: Timeline,
  chain: MilestoneKey[],
  slackMs: number,
  what: string,
): void {
  expect(
    chain.filter((key) => !timeline.has(key)),
    `${what}: milestones never seen`,
  ).toEqual([]);
  const at = (key: MilestoneKey) => timeline.at(key) ?? Number.NaN;
  for (const [earlier, later] of chain.slice(0, -1).map((key, i) => [key, chain[i + 1]] as const)) {
    expect(at(earlier), `${what}: ${earlier} before ${later ?? ''}`).toBeLessThanOrEqual(
      at(later as MilestoneKey) + slackMs,
    );
  }
}
