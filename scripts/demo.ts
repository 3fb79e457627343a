import { randomBytes } from 'node:crypto';
import { startServer } from '../functions/runtimes/node/server.js';
import { startControlPlane } from '../test/peers/control-plane.js';

/**
 * `npm run demo`: a real local control plane (etcd, kube-apiserver, controllers, kwok kubelets) with three
 * workers on the simulated cloud, and alertfence armed against it. Ten seconds in, worker-1's kubelet
 * dies; follow its fence with the printed commands. Needs the Go-built peers (`bash test/peers/go/build.sh`).
 */
async function main() {
  const port = Number(process.env.PORT ?? 8080);
  const token = randomBytes(24).toString('hex');
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
    ALERTFENCE_DRY_RUN: 'false',
    ALERTFENCE_DRIVERS: 'simulated',
    ALERTFENCE_UNHEALTHY_FOR: '15s',
    ALERTFENCE_RELEASE_TIMEOUT: '20s',
    ALERTFENCE_MAX_UNHEALTHY: '1',
  });
  const url = `http://127.0.0.1:${port}`;
  process.stderr.write(`
demo: alertfence is armed at ${url} against ${cluster.server}
demo: worker-1's kubelet dies in 10 s; after ~25 s the API server agrees it is down. Then try:

  export TOKEN=${token}
  curl -s -X POST ${url}/v1/nodes/worker-1/fence -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"dryRun": true}'
  curl -s -X POST ${url}/v1/nodes/worker-1/fence -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"wait": true}'
  KUBECONFIG=${cluster.adminKubeconfig} kubectl get nodes,leases -A      # if you have kubectl

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
