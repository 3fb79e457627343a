import { afterAll, beforeAll, beforeEach } from 'vitest';

/**
 * Starts what a suite needs once (peers, bundles, servers) and stops it after. When the start fails — a peer
 * is not installed — every test of the suite fails with that error: a throwing `beforeAll` alone makes vitest
 * report the tests as skipped, and a missing peer must read as a failure.
 *
 * @example
 * const setup = useSetup(async () => ({ rie: await startRie(options) }), ({ rie }) => rie.stop());
 * it('should …', async () => { const { rie } = setup(); … });
 */
export function useSetup<T>(start: () => Promise<T>, stop?: (value: T) => Promise<void>): () => T {
  let state: { ok: true; value: T } | { ok: false; error: unknown } = {
    ok: false,
    error: new Error('the suite set-up has not run'),
  };
  beforeAll(async () => {
    try {
      state = { ok: true, value: await start() };
    } catch (error) {
      state = { ok: false, error };
    }
  });
  afterAll(async () => {
    if (state.ok && stop) await stop(state.value);
  });
  const get = () => {
    if (!state.ok) throw state.error;
    return state.value;
  };
  beforeEach(() => {
    get();
  });
  return get;
}
