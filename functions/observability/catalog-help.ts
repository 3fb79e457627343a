/**
 * The help text of each metric of `catalog.ts`, as Prometheus shows it (`# HELP`) and `docs/metrics.md` says
 * it. Apart from the catalog so that a Lambda, which writes EMF and serves no `/metrics`, does not carry it.
 */
import type { MetricKey } from './catalog.js';

export const METRIC_HELP: Record<MetricKey, string> = {
  fencesStarted:
    'Fences started (a node locked and marked), by what asked for them and the driver of the node.',
  fences: 'Fences ended, by outcome (succeeded, aborted before power-off, failed for good) and driver.',
  fenceDuration: 'Time from the start of a fence to its end, across invocations, by outcome and driver.',
  phaseDuration: 'Time a fence phase took to complete, across invocations for a phase that waited.',
  decisions:
    'Per-node answers to requests (alerts, manual requests, ticks), by outcome, reason and trigger; refusals by reason are the refused ones.',
  waitsForOperator:
    'Fences that started to wait for an operator (failed for good, stale, or journal rejected), by reason.',
  driverCalls: 'Calls to a power driver, by driver, operation and result (ok, error, not_found, denied).',
  driverCallDuration: 'Time a power driver call took, waits for a power state or a detach included.',
  stormGuardTripped:
    'The storm guard refused a node within the last ALERTFENCE_TICK_INTERVAL and no fence was accepted since (1), or not (0).',
  fencesRunning: 'Fences not over and not waiting for an operator, cluster-wide.',
  fencesWaiting:
    'Fences that wait for an operator (failed for good, or stopped longer ago than ALERTFENCE_RESUME_WITHIN), cluster-wide.',
  fenceStarted:
    'When each fence not over started, by node, last completed phase and why it waits ("" while it runs).',
  oldestFenceAge:
    'Age of the oldest fence not over (running or waiting for an operator), 0 when there is none.',
  journalsRejected:
    'Journals alertfence refuses to obey (failed seal or checks): each blocks its node until an operator deletes it.',
  paused: 'An operator paused alertfence cluster-wide (1), or not (0).',
  pausedSince: 'When the pause in force began; absent when not paused.',
  lastSuccess:
    'When the last fence that succeeded ended, cluster-wide (from the journals and their history); absent when none did.',
  ready:
    "alertfence can fence (1): the API server answers and every driver's pre-flight passes, as /readyz says.",
  nodesFollowed:
    "Nodes this process keeps in memory for the storm guards' counts, while its watch vouches for them; 0 while it cannot (alerts then read the cluster themselves); absent where none are followed (Lambda, ALERTFENCE_FOLLOW_NODES=false).",
  stateUp:
    'The last read of the cluster-wide state (the journal Leases) succeeded (1); at 0 the state metrics are left out until a read succeeds.',
  armed: 'ALERTFENCE_DRY_RUN=false (1): alertfence powers machines off; at 0 every fence is a plan.',
  buildInfo: 'Always 1: the version of alertfence and the runtime it runs on.',
};
