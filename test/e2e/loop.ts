/** The harness's background loops: the attacher shim, the volume gate, the boot watcher. */

/** A loop that runs `pass` every `intervalMs` until stopped; the last failure is kept for diagnostics. */
export interface Loop {
  lastError(): unknown;
  stop(): Promise<void>;
}

export function every(intervalMs: number, pass: () => Promise<void>): Loop {
  let stopped = false;
  let lastError: unknown;
  const running = (async () => {
    while (!stopped) {
      try {
        await pass();
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    lastError: () => lastError,
    async stop() {
      stopped = true;
      await running;
    },
  };
}
