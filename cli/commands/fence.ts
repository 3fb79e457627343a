/**
 * `alertfence fence NODE`: asks alertfence to fence a node (or to plan it), and with `--wait` follows the fence
 * phase by phase until it ends. It never asks the server to wait (`"wait": true` would hold one request open
 * for minutes, through every proxy on the way): it starts the fence, then reads its journal.
 */
import type { FenceAnswer, FenceJournal, FenceRequest, JournalAnswer, PlannedAction } from '../api-types.js';
import { isRejectedJournal } from '../api-types.js';
import { type CommandContext, printJson } from '../context.js';
import { ApiError, UnreachableError } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { between, type Tone } from '../output.js';

export interface FenceOptions {
  dryRun: boolean;
  force: boolean;
  reason?: string | undefined;
  wait: boolean;
}

/** How often the journal is read while following a fence: soon after a change, then less often. */
export const POLL = { firstMs: 500, maxMs: 2_000, factor: 1.5 } as const;

const OUTCOME_TONES: Record<string, Tone> = {
  accepted: 'green',
  'in-progress': 'cyan',
  planned: 'cyan',
  skipped: 'yellow',
  refused: 'red',
  failed: 'red',
  'not-found': 'red',
};

/**
 * Exits 0 when the fence started (or, with `--wait`, succeeded) or the asked-for plan was printed; 1 when it
 * was refused, skipped, failed, aborted, or only planned because alertfence is disarmed; 4 for an unknown
 * node; 5 when `--wait` ran out of time.
 */
export async function fenceCommand(
  context: CommandContext,
  node: string,
  options: FenceOptions,
): Promise<ExitCode> {
  const request: FenceRequest = {
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
  };
  const { body: answer } = await context.client.fence(node, request);
  if (context.json) printJson(context, answer);
  else showAnswer(context, answer, options);

  switch (answer.outcome) {
    case 'planned':
      return options.dryRun ? EXIT.ok : EXIT.refused;
    case 'not-found':
      return EXIT.notFound;
    case 'accepted':
    case 'in-progress':
      return options.wait ? follow(context, node, answer.fence?.id) : EXIT.ok;
    default:
      return EXIT.refused;
  }
}

function showAnswer(context: CommandContext, answer: FenceAnswer, options: FenceOptions): void {
  const { out } = context;
  const outcome = out.tone(OUTCOME_TONES[answer.outcome] ?? 'bold', answer.outcome);
  const fence = answer.fence
    ? ` (fence ${answer.fence.id}, ${answer.fence.status} after ${answer.fence.phase})`
    : '';
  out.line(`${answer.node}: ${outcome} (${answer.reason}): ${answer.message}${fence}`);
  if (answer.outcome === 'planned') {
    if (!options.dryRun) {
      out.line(
        out.tone(
          'yellow',
          'alertfence is disarmed (ALERTFENCE_DRY_RUN is not false): this is the plan, nothing was done',
        ),
      );
    }
    if (answer.plan) showPlan(context, answer.plan);
  }
  if (answer.reason === 'NodeReady' && !options.force) {
    context.err.line('(to fence a node that looks healthy, add --force: only if you know it is not)');
  }
}

function showPlan(context: CommandContext, plan: PlannedAction[]): void {
  const { out } = context;
  plan.forEach((action, index) => {
    out.line(`  ${String(index + 1).padStart(2)}. ${action.phase.padEnd(10)}  ${action.action}`);
    for (const target of action.targets ?? []) out.line(`      ${''.padEnd(10)}  ${out.tone('dim', target)}`);
  });
}

/**
 * Reads the node's journal until the fence ends, printing each phase once as it completes. A read that fails
 * for a while (alertfence restarting, the API server away) is retried until the deadline; the fence goes on
 * without the CLI in any case.
 */
async function follow(context: CommandContext, node: string, fenceId: string | undefined): Promise<ExitCode> {
  const { out, err } = context;
  const printed = new Set<string>();
  let lastErrorShown: string | undefined;
  let problemShown: string | undefined;
  // The pause before the next read: short after a change, longer while nothing moves.
  let interval: number = POLL.firstMs;
  let id = fenceId;
  for (;;) {
    let changed = false;
    const journal = await readJournal(context, node).catch((error: unknown) => {
      // Only a failure a later read may not meet again is waited out: no answer, or a 5xx.
      const transient =
        error instanceof UnreachableError || (error instanceof ApiError && error.status >= 500);
      if (!transient) throw error;
      const message = (error as Error).message;
      if (message !== problemShown) err.line(`alertfence: still following, but ${message}`);
      problemShown = message;
      return undefined;
    });
    if (journal && isRejectedJournal(journal)) {
      if (context.json) printJson(context, journal);
      else
        out.line(
          out.tone('red', `${node}: the journal is rejected (${journal.rejected}): an operator must look`),
        );
      return EXIT.refused;
    }
    if (journal) {
      problemShown = undefined;
      id ??= journal.id;
      if (journal.id !== id) {
        if (context.json) printJson(context, journal);
        else
          out.line(
            `${node}: the journal now holds fence ${journal.id}, not ${id}: see alertfence history ${node}`,
          );
        return EXIT.refused;
      }
      for (const record of phasesOf(journal)) {
        if (printed.has(record.phase)) continue;
        printed.add(record.phase);
        changed = true;
        if (!context.json) showPhase(context, record);
      }
      const error = journal.lastError?.message;
      if (error && error !== lastErrorShown && journal.status === 'running' && !context.json) {
        err.line(`  ${journal.lastError?.phase}: ${error} (retrying)`);
      }
      lastErrorShown = error;
      const ended = endOf(journal);
      if (ended !== undefined) {
        if (context.json) printJson(context, journal);
        else showEnd(context, journal);
        return ended;
      }
    }
    interval = changed ? POLL.firstMs : Math.min(POLL.maxMs, Math.round(interval * POLL.factor));
    if (context.now() + interval >= context.deadline) {
      if (!context.json) {
        out.line(
          out.tone(
            'yellow',
            `${node}: fence ${id ?? ''} is still running after --timeout ${context.timeoutText}; it goes on: alertfence status, or alertfence history ${node}`,
          ),
        );
      }
      return EXIT.stillRunning;
    }
    await context.sleep(interval);
  }
}

async function readJournal(context: CommandContext, node: string): Promise<JournalAnswer> {
  return (await context.client.journal(node)).body;
}

/** How a fence's journal ends the command, or undefined while it goes on. */
function endOf(journal: FenceJournal): ExitCode | undefined {
  if (journal.status === 'succeeded') return EXIT.ok;
  if (journal.status === 'failed' || journal.status === 'aborted' || journal.waiting) return EXIT.refused;
  return undefined;
}

type PhaseRecord = FenceJournal['phases'][number];

/** The completed phases of a journal; a server older than journal version 3 calls them `steps`. */
function phasesOf(journal: FenceJournal): PhaseRecord[] {
  return journal.phases ?? (journal as { steps?: PhaseRecord[] }).steps ?? [];
}

function showPhase(context: CommandContext, record: PhaseRecord): void {
  const { out } = context;
  const took = between(record.startedAt, record.finishedAt).padStart(7);
  const detail = record.detail ? `  ${out.tone('dim', record.detail)}` : '';
  out.line(`  ${out.tone('green', '✓')} ${record.phase.padEnd(10)} ${took}${detail}`);
}

/**
 * What the operator can do about a fence that waits. One that asked for its power-off, and then found the
 * machine running again, never asks a second time (one power-off per fence): resuming it cannot help, only a
 * new fence can.
 */
function operatorHint(journal: FenceJournal): string {
  const poweredOff = journal.phases.some((record) => record.phase === 'PowerOff');
  if (journal.powerOffRequestedAt && !poweredOff) {
    return `  it asked for its power-off at ${journal.powerOffRequestedAt} and never asks twice: after checking the machine, delete its journal Lease (kubectl delete lease -n <alertfence's namespace> ${journal.node}) to let a new fence start`;
  }
  return `  after checking the node and its machine, "alertfence fence ${journal.node}" resumes it`;
}

function showEnd(context: CommandContext, journal: FenceJournal): void {
  const { out } = context;
  const took = journal.finishedAt ? ` in ${between(journal.startedAt, journal.finishedAt)}` : '';
  if (journal.status === 'succeeded') {
    out.line(`${journal.node}: fence ${journal.id} ${out.tone('green', 'succeeded')}${took}`);
    return;
  }
  const tone: Tone = journal.status === 'running' ? 'yellow' : 'red';
  out.line(
    `${journal.node}: fence ${journal.id} ${out.tone(tone, journal.status)} after ${journal.phase}${took}`,
  );
  if (journal.lastError) {
    const retry = journal.lastError.retryable ? 'a retry may fix it' : 'a retry cannot fix it';
    out.line(`  ${journal.lastError.phase}: ${journal.lastError.message} (${retry})`);
  }
  if (journal.waiting) {
    out.line(`  waits for an operator since ${journal.waiting.since}: ${journal.waiting.reason}`);
    out.line(operatorHint(journal));
  } else if (journal.status === 'failed') {
    out.line(`  alertfence retries it at its next tick; "alertfence fence ${journal.node}" resumes it now`);
  }
}
