/**
 * The direction of dependencies in alertfence, checked by `npm test` (`npm run check:deps`):
 *
 *   runtimes -> http -> fence -> kube, drivers -> lib (lib, config.ts with its sections in config/, log.ts)
 *   runtimes -> observability -> fence, drivers
 *
 * and no import cycle anywhere. The command line (`cli/`) stands beside them as a client of the HTTP API: it
 * runs none of their code, and borrows only the types of what the API answers. A rule broken here is a
 * design question, not a lint to silence.
 */
const LIB = '^functions/(lib/|config/|config\\.ts$|log\\.ts$)';
/**
 * The modules whose types describe what the API answers: the CLI may import their types, nothing else. That
 * the imports are types only is proven by the CLI's bundle holding no module of functions/ or drivers/
 * (test/unit/cli/bundle.test.ts): with TypeScript 7 dependency-cruiser cannot tell a type-only import apart.
 */
const API_TYPES = '^functions/fence/(api|journal|pause)\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'An import cycle: one of the two modules belongs in the other, or both need a third.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lib-depends-on-nothing',
      severity: 'error',
      comment: 'lib, config and log are the bottom layer: they import no other part of alertfence.',
      from: { path: LIB },
      to: { path: '^(functions|drivers)/', pathNot: LIB },
    },
    {
      name: 'drivers-know-no-kubernetes',
      severity: 'error',
      comment:
        'A driver powers machines and knows nothing of Kubernetes, fences, HTTP or runtimes; only lib.',
      from: { path: '^drivers/' },
      to: { path: '^functions/', pathNot: LIB },
    },
    {
      name: 'kube-is-a-port',
      severity: 'error',
      comment: 'Kubernetes access knows nothing of fences, drivers, HTTP or runtimes.',
      from: { path: '^functions/kube/' },
      to: { path: '^(functions/(fence|http|runtimes)/|drivers/)' },
    },
    {
      name: 'fence-calls-no-runtime',
      severity: 'error',
      comment: 'The fence core returns its hand-overs; it never calls the HTTP layer or a runtime.',
      from: { path: '^functions/fence/' },
      to: { path: '^functions/(http|runtimes)/' },
    },
    {
      name: 'observability-is-plugged-in',
      severity: 'error',
      comment:
        'Metrics hear the fence through its observer and wrap the drivers from outside; the runtimes plug them in. Nothing they observe imports them, and the app gets /metrics as a function.',
      from: { path: '^(functions/(fence|kube|http)/|drivers/)' },
      to: { path: '^functions/observability/' },
    },
    {
      name: 'observability-knows-no-transport',
      severity: 'error',
      comment:
        'Metrics are the same on every runtime and behind any route: they import no runtime and no HTTP.',
      from: { path: '^functions/observability/' },
      to: { path: '^functions/(http|runtimes)/' },
    },
    {
      name: 'http-runs-in-any-runtime',
      severity: 'error',
      comment: 'The app is the same on every runtime: it imports none of them.',
      from: { path: '^functions/http/' },
      to: { path: '^functions/runtimes/' },
    },
    {
      name: 'cli-is-a-client',
      severity: 'error',
      comment:
        'The CLI talks to alertfence over HTTP only: it imports nothing from functions/ or drivers/ but the types of the API answers.',
      from: { path: '^cli/' },
      to: { path: '^(functions|drivers)/', pathNot: API_TYPES },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count too: a type that points the wrong way is a design that does.
    exclude: { path: '^(node_modules|dist|test|bench|scripts)/' },
  },
};
