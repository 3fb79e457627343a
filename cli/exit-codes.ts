/**
 * The exit codes of `alertfence`, one meaning each, so that a script can tell "the fence was refused" from
 * "alertfence could not be reached". Documented in `docs/cli.md` and in `alertfence --help`.
 */
export const EXIT = {
  /** Done as asked: the fence succeeded or started, the plan was printed, alertfence is ready. */
  ok: 0,
  /** alertfence answered no: a fence refused, failed, aborted or only planned (disarmed); not ready; 409, 5xx. */
  refused: 1,
  /** Bad usage, found before any request (a flag, a node name, a duration, a time, no token), or a 400. */
  usage: 2,
  /** alertfence could not be asked: unreachable, timed out, not its API, or the token was refused (401/403). */
  unreachable: 3,
  /** Not found: no such Node, no fence of it (404). */
  notFound: 4,
  /** `fence --wait` ran out of time while the fence was still running (it goes on without us). */
  stillRunning: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The table printed by `alertfence --help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  done as asked (fence succeeded or started, plan printed, ready)
  1  alertfence said no: fence refused, failed, aborted, or only planned; not ready
  2  bad usage (flags, node name, duration, time, missing token), found before any request
  3  alertfence not reachable, timed out, not its API, or the token refused (401/403)
  4  not found (no such node, no fence of it)
  5  fence --wait: still running when --timeout ran out (the fence goes on)`;
