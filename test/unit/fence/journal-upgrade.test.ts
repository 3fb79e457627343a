/**
 * Journal version 3 renamed the record of completed phases from `steps` to `phases`. A journal that the
 * version before wrote (version 2) must still be read and acted on: an upgrade in the middle of a fence must
 * neither strand it nor drive it wrongly, and the seal must still decide whether it is obeyed.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JOURNAL_VERSION, upgradeJournal } from '../../../functions/fence/journal.js';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import { CrashingKube } from '../../fakes/crashing-kube.js';
import { peekJournal } from '../../support/peek-journal.js';
import { alertPayload, createWorld, loseFenceAfter, type World } from '../../support/world.js';

/**
 * Rewrites the node's journal as version 2 wrote it (`steps`, version 2), sealed as version 2 sealed it: an
 * HMAC-SHA256 over where it lives, its text and the current hand-over's digest. `tamper` edits it after the
 * seal, as someone allowed to patch Leases could.
 */
function downgradeToVersion2(
  world: World,
  node: string,
  tamper?: (journal: Record<string, unknown>) => void,
) {
  const lease = structuredClone(world.kube.leases.get(`alertfence/${node}`));
  if (!lease) throw new Error(`no journal Lease for ${node}`);
  const { phases, ...rest } = peekJournal(lease) as unknown as Record<string, unknown>;
  const old: Record<string, unknown> = { ...rest, version: 2, steps: phases };
  const annotations = lease.metadata?.annotations ?? {};
  const text = JSON.stringify(old);
  const payload = JSON.stringify([
    'alertfence-journal',
    'alertfence',
    node,
    text,
    annotations[KUBE_NAMES.handoffAnnotation] ?? '',
  ]);
  const key = world.config.journalKeys[0] ?? '';
  const seal = `hmac-sha256:${createHmac('sha256', key).update(payload).digest('base64url')}`;
  tamper?.(old);
  lease.metadata = {
    ...lease.metadata,
    annotations: {
      ...annotations,
      [KUBE_NAMES.journalAnnotation]: JSON.stringify(old),
      [KUBE_NAMES.sealAnnotation]: seal,
    },
  };
  world.kube.putLease('alertfence', lease);
}

/** A fence of worker-1 whose invocation died right after `phase`, its Lease hold run out. */
async function crashedAfter(phase: (typeof PHASES)[number]) {
  const kube = new CrashingKube();
  const world = createWorld({ kube });
  await loseFenceAfter(world, kube, phase);
  return world;
}

describe('a journal written by the version before (version 2, steps)', () => {
  it.each(['Mark', 'VerifyOff', 'Release'] as const)(
    'should resume a fence stopped after %s, power off once, and finish it in version %s',
    async (phase) => {
      // Prepare
      const world = await crashedAfter(phase);
      downgradeToVersion2(world, 'worker-1');

      // Act
      const repeat = (await (
        await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
      ).json()) as {
        results: Array<{ outcome: string; reason: string }>;
      };
      await world.drain();

      // Assess
      expect(repeat.results[0]).toMatchObject({ outcome: 'accepted', reason: 'Resume' });
      const journal = await world.service.journal('worker-1');
      expect(journal).toMatchObject({ version: JOURNAL_VERSION, status: 'succeeded' });
      expect(journal?.phases.map((record) => record.phase)).toEqual(PHASES);
      expect(journal).not.toHaveProperty('steps');
      expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
    },
  );

  it('should refuse a version 2 journal edited after its seal, and power nothing off', async () => {
    // Prepare: someone marks the power-off as verified, to get the release done with the machine running.
    const world = await crashedAfter('Mark');
    downgradeToVersion2(world, 'worker-1', (journal) => {
      journal.phase = 'VerifyOff';
      journal.verifiedOffAt = new Date(world.clock.now()).toISOString();
    });

    // Act
    const repeat = (await (await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))).json()) as {
      results: Array<{ outcome: string; reason: string }>;
    };
    await world.drain();

    // Assess
    expect(repeat.results[0]).toMatchObject({ reason: 'JournalRejected' });
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(0);
    const taints = world.kube.nodes.get('worker-1')?.spec?.taints ?? [];
    expect(taints.map((taint) => taint.key)).not.toContain('node.kubernetes.io/out-of-service');
  });
});

describe('upgradeJournal', () => {
  it('should rename steps to phases in a version 2 journal and change nothing else', () => {
    // Prepare
    const old = { version: 2, id: 'f', phase: 'Lock', steps: [{ phase: 'Confirm' }, { phase: 'Lock' }] };

    // Act
    const upgraded = upgradeJournal(old);

    // Assess
    expect(upgraded).toEqual({ version: 3, id: 'f', phase: 'Lock', phases: old.steps });
  });

  it.each([
    ['a version 3 journal', { version: 3, phases: [] }],
    [
      'a version 2 journal that already has phases (no alertfence wrote it)',
      { version: 2, phases: [], steps: [] },
    ],
    ['a version 1 journal', { version: 1, steps: [] }],
    ['something that is not a journal', 'text'],
  ])('should leave %s as it is, for the consistency checks to judge', (_what, value) => {
    // Act
    const upgraded = upgradeJournal(value);

    // Assess
    expect(upgraded).toBe(value);
  });
});
