import { ConfigError } from '../config.js';
import { createKubeClient } from './client.js';
import {
  inClusterEndpoint,
  type KubeEndpoint,
  loadKubeconfigFile,
  parseKubeconfig,
  toKubeConfig,
} from './kubeconfig.js';
import type { KubePort } from './port.js';

type Env = Record<string, string | undefined>;

/** Where alertfence's Kubernetes identity comes from, in order of precedence. */
export type KubeAccessMode = 'inline' | 'kubeconfig' | 'in-cluster' | 'eks';

export interface KubeAccess {
  mode: KubeAccessMode;
  kube: KubePort;
  /** What the function must log loudly at start (an API server whose certificate is not checked). */
  warnings: string[];
}

/** Builds the EKS token supplier; injected so this module does not load the AWS SDK unless EKS is used. */
export type EksTokenFactory = (options: { clusterName: string; region: string }) => () => Promise<string>;

/**
 * Chooses the Kubernetes access mode from the environment:
 * - `ALERTFENCE_KUBECONFIG_INLINE` (or `_FILE`): a whole kubeconfig as text;
 * - `KUBECONFIG`: a kubeconfig path;
 * - in a cluster (`KUBERNETES_SERVICE_HOST`): the pod's service account;
 * - `ALERTFENCE_EKS_CLUSTER` with `ALERTFENCE_KUBE_SERVER` and `ALERTFENCE_KUBE_CA_DATA`: an EKS IAM token
 *   generated from the function's AWS role.
 */
export function loadKubeAccess(env: Env, eksToken?: EksTokenFactory): KubeAccess {
  let endpoint: KubeEndpoint;
  let mode: KubeAccessMode;
  const allowInsecureTls = /^(true|1|yes)$/i.test(env.ALERTFENCE_KUBE_ALLOW_INSECURE_TLS?.trim() ?? '');
  try {
    if (env.ALERTFENCE_KUBECONFIG_INLINE) {
      endpoint = parseKubeconfig(env.ALERTFENCE_KUBECONFIG_INLINE, {
        baseDir: process.cwd(),
        source: 'ALERTFENCE_KUBECONFIG_INLINE',
        allowInsecureTls,
      });
      mode = 'inline';
    } else if (env.KUBECONFIG) {
      endpoint = loadKubeconfigFile(env.KUBECONFIG, { allowInsecureTls });
      mode = 'kubeconfig';
    } else if (env.KUBERNETES_SERVICE_HOST) {
      endpoint = inClusterEndpoint(env);
      mode = 'in-cluster';
    } else if (env.ALERTFENCE_EKS_CLUSTER) {
      const server = env.ALERTFENCE_KUBE_SERVER;
      const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
      if (!server || !region) {
        throw new ConfigError(
          'EKS access needs ALERTFENCE_KUBE_SERVER (the cluster endpoint) and AWS_REGION',
        );
      }
      if (!eksToken) throw new ConfigError('EKS access is not available in this runtime');
      const caData = env.ALERTFENCE_KUBE_CA_DATA;
      // The EKS IAM token plugs in as the user's authenticator: asked for before every request.
      endpoint = {
        server,
        tls: caData ? { ca: Buffer.from(caData, 'base64').toString('utf8') } : {},
        bearerToken: eksToken({ clusterName: env.ALERTFENCE_EKS_CLUSTER, region }),
        source: `EKS cluster ${env.ALERTFENCE_EKS_CLUSTER}`,
      };
      mode = 'eks';
    } else {
      throw new ConfigError(
        'no Kubernetes access: set KUBECONFIG, ALERTFENCE_KUBECONFIG_INLINE(_FILE), run in a cluster, or set ALERTFENCE_EKS_CLUSTER',
      );
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cannot load Kubernetes access: ${(error as Error).message}`, { cause: error });
  }
  const config = toKubeConfig(endpoint);
  const cluster = config.getCurrentCluster();
  const warnings = cluster?.skipTLSVerify
    ? [
        `the API server's certificate is NOT checked (insecure-skip-tls-verify, allowed by ALERTFENCE_KUBE_ALLOW_INSECURE_TLS): anyone on the path to ${cluster.server} can tell alertfence a node is down`,
      ]
    : [];
  return { mode, kube: createKubeClient(config), warnings };
}
