import { defineConfig } from 'vitest/config';

// Unit tests touch no network and run in parallel; integration and e2e tests start real peers
// (API server, moto, Keystone, Alertmanager) on loopback, so they get long timeouts and run one file at a time
// to keep the 2-core CI machine from thrashing. The emulators project runs the functions under the real
// Lambda Runtime Interface Emulator and of-watchdog, which cannot be installed on a clean machine here (the Go
// module proxy answers 403 for both): `npm test` leaves it out, `npm run test:emulators` runs it
// (test/integration/runtimes/README.md).
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'emulators',
          include: ['test/emulators/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
