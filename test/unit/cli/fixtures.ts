/** API answers as alertfence gives them, for the stub: typed with the server's own types, so they stay true. */
import type {
  FenceAnswer,
  FenceJournal,
  FenceListing,
  FenceRecord,
  FencesAnswer,
  NodeHistory,
} from '../../../cli/api-types.js';
import { PHASES, type Phase } from '../../../functions/fence/vocabulary.js';

export const FENCE_ID = '6f1d0c2e-8c1b-4b59-9d0e-2b1f7a4c9e11';
const STARTED = Date.parse('2026-11-22T10:00:00Z');

/** A journal of worker-1 that completed every phase up to `phase`, a second each. */
export function journalAt(phase: Phase, overrides: Partial<FenceJournal> = {}): FenceJournal {
  const done = PHASES.slice(0, PHASES.indexOf(phase) + 1);
  const phases = done.map((name, index) => ({
    phase: name,
    startedAt: new Date(STARTED + index * 1000).toISOString(),
    finishedAt: new Date(STARTED + index * 1000 + 900).toISOString(),
    attempt: 1,
    ...(name === 'PowerOff' ? { detail: 'simulated i-worker-1 stopping' } : {}),
  }));
  const last = phases.at(-1)?.finishedAt ?? new Date(STARTED).toISOString();
  return {
    version: 3,
    id: FENCE_ID,
    node: 'worker-1',
    nodeUid: 'uid-worker-1',
    trigger: { kind: 'manual', reason: 'kernel panic', force: false },
    force: false,
    status: phase === 'Done' ? 'succeeded' : 'running',
    phase,
    instance: { provider: 'simulated', id: 'i-worker-1' },
    instanceSeen: { at: new Date(STARTED).toISOString(), cloudState: 'running' },
    attempt: 1,
    startedAt: new Date(STARTED).toISOString(),
    updatedAt: last,
    ...(phase === 'Done' ? { finishedAt: last } : {}),
    powerOn: 'on',
    release: { detachRequested: [] },
    phases,
    ...overrides,
  } as FenceJournal;
}

export function accepted(overrides: Partial<FenceAnswer> = {}): FenceAnswer {
  return {
    dryRun: false,
    node: 'worker-1',
    outcome: 'accepted',
    reason: 'Accepted',
    message: 'node confirmed down',
    fence: { id: FENCE_ID, phase: 'Lock', status: 'running' },
    ...overrides,
  };
}

export function refused(reason: string, message: string, node = 'worker-2'): FenceAnswer {
  return { dryRun: false, node, outcome: 'refused', reason, message };
}

export function planned(dryRun: boolean): FenceAnswer {
  return {
    dryRun,
    node: 'worker-1',
    outcome: 'planned',
    reason: 'DryRun',
    message: 'dry-run: nothing was changed',
    plan: [
      { phase: 'Lock', action: 'take the fence Lease', targets: ['lease/alertfence/worker-1'] },
      { phase: 'PowerOff', action: 'hard power-off', targets: ['simulated:i-worker-1'] },
      { phase: 'DeleteNode', action: 'delete the Node', targets: ['node/worker-1'] },
    ],
  };
}

export function listing(overrides: Partial<FenceListing> = {}): FenceListing {
  return {
    node: 'worker-3',
    id: 'a1b2c3d4-0000-4000-8000-000000000003',
    status: 'running',
    phase: 'VerifyOff',
    trigger: 'alert',
    startedAt: '2026-11-22T09:58:00Z',
    updatedAt: '2026-11-22T09:59:50Z',
    held: true,
    ...overrides,
  };
}

export function overview(overrides: Partial<FencesAnswer> = {}): FencesAnswer {
  return { paused: false, fences: [], rejected: [], ...overrides };
}

export function record(overrides: Partial<FenceRecord> = {}): FenceRecord {
  return {
    id: FENCE_ID,
    trigger: {
      kind: 'alert',
      reason: 'KubeNodeNotReady firing',
      alertname: 'KubeNodeNotReady',
      force: false,
    },
    forced: false,
    status: 'succeeded',
    phase: 'Done',
    startedAt: '2026-11-22T08:00:00Z',
    finishedAt: '2026-11-22T08:01:14Z',
    phases: [],
    poweredOff: true,
    volumesDetached: ['vol-1', 'vol-2'],
    ...overrides,
  };
}

export function history(fences: FenceRecord[], overrides: Partial<NodeHistory> = {}): NodeHistory {
  return { node: 'worker-1', fences, ...overrides };
}
