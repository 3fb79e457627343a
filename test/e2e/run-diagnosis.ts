/**
 * What a failed e2e run shows first: CI keeps only the tail of the output, so the assertion's own message must
 * say how far the run got and why the fence stopped, without the report files.
 */
import type { ScenarioResult } from './scenario.js';

const LOG_LINES = 25;

/** The milestones seen (seconds after the kubelet died), the journal's outcome, and alertfence's last warnings. */
export function runDiagnosis(run: ScenarioResult): string {
  const seen = run.timeline
    .list()
    .map((event) => `+${((event.at - run.t0) / 1000).toFixed(1)}s ${event.key}`)
    .join(', ');
  const journal = run.journal
    ? JSON.stringify({
        status: run.journal.status,
        phase: run.journal.phase,
        lastError: run.journal.lastError,
        waiting: run.journal.waiting,
      })
    : 'no journal';
  // alertfence's cloud calls that were not reads, with the cloud's answer: did the stop reach it, and take?
  const actions = run.cloudCalls
    .filter((call) => !/^(GET |Describe)/.test(call.action))
    .map((call) => `+${((call.start - run.t0) / 1000).toFixed(1)}s ${call.action} → ${call.status}`)
    .join(', ');
  const warnings = (run.logs.alertfence ?? '')
    .split('\n')
    .filter((line) => /"level":"(warn|error)"/.test(line))
    .slice(-LOG_LINES)
    .join('\n');
  return [
    `${run.name}: seen ${seen || 'nothing'}`,
    `journal: ${journal}`,
    `cloud actions by alertfence: ${actions || 'none'}; the hung machine seen off: ${run.victimSeenOff}`,
    `alertfence warnings:\n${warnings || '(none)'}`,
  ].join('\n');
}
