/** `alertfence status`: is alertfence ready, is it paused, which fences are not over, what succeeded last. */
import type { FenceListing, FencesAnswer, Pause, ReadyAnswer } from '../api-types.js';
import type { Answer } from '../client.js';
import { type CommandContext, printJson } from '../context.js';
import { ApiError, type ApiErrorBody, isApiErrorBody } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { ago, at } from '../output.js';

/**
 * Reads `/readyz` and `/v1/fences` and shows both. Exits 0 when alertfence is ready, 1 when it is not (or
 * cannot list its fences), 3 when it cannot be reached.
 */
export async function statusCommand(context: CommandContext): Promise<ExitCode> {
  const ready = await context.client.readyz();
  // Not ready usually means the API server is away, and then the fences cannot be listed either: say both.
  const fences = await context.client.fences().catch((error: unknown) => {
    if (error instanceof ApiError) return error;
    throw error;
  });
  const isReady = ready.status === 200 && (ready.body as ReadyAnswer).status === 'ready';
  if (context.json) {
    printJson(context, { readyz: ready.body, fences: fences.body });
  } else {
    showReadiness(context, ready, fences instanceof ApiError ? undefined : fences.body);
    if (fences instanceof ApiError) context.err.line(`alertfence: ${fences.message}`);
    else showFences(context, fences.body);
  }
  if (fences instanceof ApiError && fences.exitCode !== EXIT.refused) return fences.exitCode;
  return isReady && !(fences instanceof ApiError) ? EXIT.ok : EXIT.refused;
}

function showReadiness(
  context: CommandContext,
  ready: Answer<ReadyAnswer | ApiErrorBody>,
  fences: FencesAnswer | undefined,
): void {
  const { out, now } = context;
  out.line(`alertfence at ${context.client.url('')}`);
  const body = ready.body;
  if (ready.status === 200 && !isApiErrorBody(body) && body.status === 'ready') {
    out.line(`  ${label('ready')}${out.tone('green', 'yes')}`);
  } else {
    const why = isApiErrorBody(body) ? body.error.message : 'not ready';
    out.line(`  ${label('ready')}${out.tone('red', 'no')}: ${why}`);
  }
  // The list of fences reads the pause afresh; without it, /readyz's word, and nothing known when not ready.
  const pause = fences ? fences.paused : isApiErrorBody(body) ? undefined : body.paused;
  const why = fences || isApiErrorBody(body) ? undefined : body.pauseError;
  out.line(`  ${label('paused')}${describePause(context, pause, why)}`);
  const last = fences?.lastSucceeded;
  if (last) {
    out.line(
      `  last fenced  ${last.node} (fence ${last.id}) at ${at(last.finishedAt)}, ${ago(last.finishedAt, now())}`,
    );
  } else if (fences) {
    out.line(`  ${label('last fenced')}none recorded`);
  }
}

const label = (text: string) => text.padEnd(13);

/**
 * The pause as a line: `no`, `yes` and its details, or `unknown` (and why, when alertfence said) when it could
 * not be read or nothing answered about it: a pause not read is never shown as none.
 */
export function describePause(
  context: CommandContext,
  pause: ReadyAnswer['paused'] | undefined,
  why?: string,
): string {
  if (pause === undefined || pause === 'unknown') {
    const unknown = context.out.tone('yellow', 'unknown');
    return why ? `${unknown}: ${why}` : unknown;
  }
  if (!pause) return 'no';
  const yes = context.out.tone('yellow', 'yes');
  return pause === true ? yes : `${yes}, ${pauseDetails(context, pause)}`;
}

/** Since when, by whom, why and until when. */
export function pauseDetails(context: CommandContext, pause: Pause): string {
  const { now } = context;
  const until = pause.until
    ? `until ${at(pause.until)} (${ago(pause.until, now())})`
    : 'until lifted (alertfence resume)';
  return `since ${at(pause.since)} (${ago(pause.since, now())}) by ${pause.by}: "${pause.reason}"; ${until}`;
}

function showFences(context: CommandContext, answer: FencesAnswer): void {
  const { out, now } = context;
  out.line();
  if (answer.fences.length === 0) {
    out.line('No fence is running, failed or waiting for an operator.');
  } else {
    out.table(
      ['NODE', 'FENCE', 'STATUS', 'PHASE DONE', 'TRIGGER', 'STARTED', 'UPDATED', 'NOTE'],
      answer.fences.map((fence) => [
        fence.node,
        fence.id,
        statusCell(context, fence),
        fence.phase,
        fence.trigger,
        at(fence.startedAt),
        ago(fence.updatedAt, now()),
        noteOf(fence),
      ]),
    );
    for (const fence of answer.fences) {
      if (fence.waiting) {
        out.line(
          `  ${fence.node}: waits for an operator since ${at(fence.waiting.since)}: ${fence.waiting.reason}`,
        );
      }
      if (fence.lastError) out.line(`  ${fence.node}: last error: ${fence.lastError}`);
    }
  }
  if (answer.rejected.length > 0) {
    out.line();
    out.line(
      out.tone('red', 'Rejected journals (never obeyed: read the Lease, then delete it to start afresh):'),
    );
    for (const rejected of answer.rejected) out.line(`  ${rejected.node}: ${rejected.reason}`);
  }
}

function statusCell(context: CommandContext, fence: FenceListing): string {
  const { out } = context;
  if (fence.waiting) return out.tone('yellow', 'waiting');
  if (fence.status === 'failed') return out.tone('red', 'failed');
  return out.tone('cyan', fence.status);
}

function noteOf(fence: FenceListing): string {
  if (fence.waiting) return 'needs an operator (alertfence fence NODE resumes it)';
  if (fence.status === 'failed') return 'the tick or the next alert retries it';
  return fence.held ? 'in progress' : 'between runs';
}
