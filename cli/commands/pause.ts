/** `alertfence pause` and `alertfence resume`: the cluster-wide pause every alertfence instance obeys. */
import type { PauseRequest } from '../api-types.js';
import { type CommandContext, printJson } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { describePause, pauseDetails } from './status.js';

/** Pauses alertfence: no fence starts, and none powers a machine off, until the end given or `resume`. */
export async function pauseCommand(context: CommandContext, request: PauseRequest): Promise<ExitCode> {
  const { body } = await context.client.pause(request);
  if (context.json) {
    printJson(context, body);
    return EXIT.ok;
  }
  if (!body.paused) {
    context.out.line('alertfence answered that it is not paused');
    return EXIT.refused;
  }
  const { paused: _, ...pause } = body;
  context.out.line(`paused: ${describePause(context, pause)}`);
  context.out.line(
    'A fence past its power-off finishes; every other waits. "alertfence resume" lifts the pause.',
  );
  return EXIT.ok;
}

/** Lifts the pause; not being paused is not an error. */
export async function resumeCommand(context: CommandContext): Promise<ExitCode> {
  const { body } = await context.client.resume();
  if (context.json) {
    printJson(context, body);
    return EXIT.ok;
  }
  const lifted = body.paused === false ? body.lifted : undefined;
  if (lifted) context.out.line(`pause lifted; it was: ${pauseDetails(context, lifted)}`);
  else context.out.line('alertfence was not paused; nothing to lift');
  return EXIT.ok;
}
