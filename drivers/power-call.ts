/**
 * A power call (EC2 StopInstances/StartInstances, Nova os-stop/os-start, a Redfish reset) that the cloud
 * refused or whose answer was lost is never repeated blindly: the machine is read again, and that reading
 * decides. The repeats go through `retryWithin` of `functions/lib/wait.ts`, bounded by attempts and deadline.
 */

import { type Bounds, type RetryPolicy, retryWithin } from '../functions/lib/wait.js';

/** What a fresh reading says after a failed power call: nothing left to do, or send it again. */
export type AfterFailedCall = 'done' | 'repeat';

/** Bounds of the repeats of a power call. */
export interface PowerCallOptions extends Pick<Bounds, 'deadline' | 'signal'> {
  /** Backoff, attempts (the first included) and clock of the repeats. */
  policy: RetryPolicy;
  /** What to throw when the deadline leaves no time for a repeat; the last failure by default. */
  tooLate?: (error: unknown) => unknown;
}

/**
 * Sends `call`; when it fails, `judge` reads the machine again and says `done` (the goal is reached or under
 * way) or `repeat` (the call may be sent again, after a backoff), or throws what the failure means (a refusal,
 * a configuration error). After the last attempt the last failure is thrown.
 *
 * @example
 * await sendPowerCall(() => stop(id), async (error) => ((await read(id)).off ? 'done' : 'repeat'), { deadline, policy });
 */
export async function sendPowerCall(
  call: () => Promise<void>,
  judge: (error: unknown) => Promise<AfterFailedCall>,
  options: PowerCallOptions,
): Promise<void> {
  let repeat: unknown;
  await retryWithin(
    async () => {
      try {
        await call();
      } catch (error) {
        if ((await judge(error)) === 'done') return;
        repeat = error;
        throw error;
      }
    },
    {
      deadline: options.deadline,
      signal: options.signal,
      policy: options.policy,
      // Only the failures `judge` chose to repeat; whatever it threw itself is final.
      retryable: (error) => error === repeat,
      tooLate: options.tooLate,
    },
  );
}
