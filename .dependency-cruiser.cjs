/**
 * The direction of dependencies in alertfence, checked by `npm test` (`npm run check:deps`):
 *
 *   runtimes -> http -> fence -> kube, drivers -> lib (lib, config.ts, log.ts)
 *   runtimes -> observability -> fence (metrics, notifications: observers the runtimes hand to the fence)
 *
 * and no import cycle anywhere. A rule broken here is a design question, not a lint to silence.
 */
const LIB = '^functions/(lib/|config\\.ts$|log\\.ts$)';

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
      name: 'http-runs-in-any-runtime',
      severity: 'error',
      comment: 'The app is the same on every runtime: it imports none of them.',
      from: { path: '^functions/http/' },
      to: { path: '^functions/runtimes/' },
    },
    {
      name: 'observability-is-told',
      severity: 'error',
      comment:
        'The fence tells its observer; nothing below the runtimes knows who listens (metrics, notifications).',
      from: { path: '^(functions/(fence|kube|http|lib)/|drivers/)' },
      to: { path: '^functions/observability/' },
    },
    {
      name: 'observability-runs-in-any-runtime',
      severity: 'error',
      comment: 'Observers listen to the fence; they import neither the HTTP layer nor a runtime.',
      from: { path: '^functions/observability/' },
      to: { path: '^functions/(http|runtimes)/' },
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
