/** `alertfence history NODE`: the node's fences, the newest first, as alertfence keeps them in its journal. */
import type { FenceRecord } from '../api-types.js';
import { type CommandContext, printJson } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { at, between, type Tone } from '../output.js';

const STATUS_TONES: Record<string, Tone> = {
  succeeded: 'green',
  failed: 'red',
  aborted: 'red',
  running: 'cyan',
};

/** Exits 0 with the table (or none recorded), 1 when the node's journal is rejected, 4 for an unknown node. */
export async function historyCommand(
  context: CommandContext,
  node: string,
  options: { limit?: number | undefined },
): Promise<ExitCode> {
  const { body } = await context.client.history(node, options.limit);
  if (context.json) {
    printJson(context, body);
    return body.rejected ? EXIT.refused : EXIT.ok;
  }
  const { out } = context;
  if (body.rejected) {
    out.line(
      out.tone('red', `${node}: its journal is rejected (${body.rejected}): no history of it can be trusted`),
    );
    return EXIT.refused;
  }
  if (body.fences.length === 0) {
    out.line(`${node}: no fence recorded`);
    return EXIT.ok;
  }
  out.table(
    ['FENCE', 'TRIGGER', 'STARTED', 'DURATION', 'OUTCOME', 'FORCED', 'VOLUMES', 'REASON'],
    body.fences.map((record) => [
      record.id,
      triggerOf(record),
      at(record.startedAt),
      between(record.startedAt, record.finishedAt),
      out.tone(STATUS_TONES[record.status] ?? 'bold', outcomeOf(record)),
      record.forced ? out.tone('yellow', 'yes') : 'no',
      record.volumesDetached.length > 0 ? record.volumesDetached.join(',') : '-',
      record.trigger.reason,
    ]),
  );
  for (const record of body.fences) {
    if (record.lastError) out.line(`  ${record.id}: ${record.lastError}`);
  }
  return EXIT.ok;
}

function triggerOf(record: FenceRecord): string {
  return record.trigger.alertname
    ? `${record.trigger.kind} ${record.trigger.alertname}`
    : record.trigger.kind;
}

/** `succeeded`, or how far it got: `failed after PowerOff`, `running after Lock`. */
function outcomeOf(record: FenceRecord): string {
  return record.status === 'succeeded' ? 'succeeded' : `${record.status} after ${record.phase}`;
}
