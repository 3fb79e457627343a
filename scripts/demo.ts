import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { startServer } from '../functions/runtimes/node/server.js';
import { startControlPlane } from '../test/peers/control-plane.js';

/** Where the Quick start keeps the token, and where the curl walkthrough reads it back. */
const TOKEN_FILE = './alertfence-token';

/** The Quick start's token when there is one, else a new one written where the walkthrough reads it. */
function quickStartToken(): string {
  if (existsSync(TOKEN_FILE)) {
    const token = readFileSync(TOKEN_FILE, 'utf8').split('\n')[0]?.trim() ?? '';
    if (token.length >= 16) return token;
  }
  const token = randomBytes(24).toString('hex');
  writeFileSync(TOKEN_FILE, `${token}\n`, { mode: 0o600 });
  return token;
}

/**
 * `npm run demo`: a real local control plane (etcd, kube-apiserver, controllers, kwok kubelets) with three
 * workers on the simulated cloud, and alertfence against it — disarmed, as alertfence starts, unless
 * `ALERTFENCE_DRY_RUN=false`. Ten seconds in, worker-1's kubelet dies; the README's curl walkthrough then
 * works as written. Needs the Go-built peers (`bash test/peers/go/build.sh`).
 */
async function main() {
  const port = Number(process.env.PORT ?? 8080);
  const dryRun = process.env.ALERTFENCE_DRY_RUN ?? 'true';
  const token = quickStartToken();
  process.stderr.write('demo: starting a local control plane …\n');
  const cluster = await startControlPlane({ controllers: true, scheduler: true, kwok: true });
  for (const name of ['worker-1', 'worker-2', 'worker-3']) {
    await cluster.createNode(name, { providerID: `simulated:///i-${name}` });
  }
  const { server } = startServer({
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    KUBECONFIG: cluster.alertfenceKubeconfig,
    ALERTFENCE_TOKENS: token,
    ALERTFENCE_DRY_RUN: dryRun,
    // Armed needs a key to seal the journals; the demo's cluster lives as long as the demo, and so may its key.
    ALERTFENCE_JOURNAL_KEY: process.env.ALERTFENCE_JOURNAL_KEY ?? randomBytes(32).toString('hex'),
    ALERTFENCE_DRIVERS: 'simulated',
    ALERTFENCE_UNHEALTHY_FOR: '15s',
    ALERTFENCE_RELEASE_TIMEOUT: '20s',
    ALERTFENCE_MAX_UNHEALTHY: '1',
  });
  const url = `http://127.0.0.1:${port}`;
  const armed = dryRun === 'false';
  process.stderr.write(`
demo: alertfence is ${armed ? 'ARMED' : 'disarmed (every fence is a plan)'} at ${url} against ${cluster.server}
demo: worker-1's kubelet dies in 10 s; the API server marks it NotReady 10 s later, and a fence of worker-1
demo: is refused until it has been down for ALERTFENCE_UNHEALTHY_FOR (15s here): about 35 s from now.
demo: the token is in ${TOKEN_FILE}. Follow "Try it with curl" in README.md from another shell:

  export ALERTFENCE_URL=${url}
  export TOKEN=$(cat ${TOKEN_FILE})
  curl -s -X POST "$ALERTFENCE_URL/v1/nodes/worker-1/fence" -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d '{"dryRun": true}'
  KUBECONFIG=${cluster.adminKubeconfig} kubectl get nodes,leases -A      # if you have kubectl
${armed ? '' : '\ndemo: to fence for real, stop the demo and run it armed: ALERTFENCE_DRY_RUN=false npm run demo\n'}
Ctrl-C stops everything.
`);
  setTimeout(
    () => void cluster.stopHeartbeat('worker-1').then(() => process.stderr.write('demo: worker-1 died\n')),
    10_000,
  );
  const stop = async () => {
    server.close();
    await cluster.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
}

await main();
