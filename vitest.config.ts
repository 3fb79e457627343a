import { defineConfig } from 'vitest/config';

// Unit tests touch no network and run in parallel; integration and e2e tests start real peers
// (API server, moto, Keystone, Alertmanager) on loopback, so they get long timeouts and run one file at a time
// to keep the 2-core CI machine from thrashing. The emulators project runs the Lambda bundles under the real
// Lambda Runtime Interface Emulator (built by test/peers/go/build.sh), one file at a time in a group of its
// own, so its control plane never shares the machine with an integration suite's. The watchdog project runs the OpenFaaS bundle under
// the real of-watchdog, which the Go module proxy refuses to serve: `npm test` leaves it out,
// `npm run test:watchdog` runs it where a binary is provided (test/emulators/README.md).
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
          include: ['test/emulators/lambda-*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'watchdog',
          include: ['test/emulators/openfaas-watchdog.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
