import { ConfigError, type KubeAccessMode, type KubeSettings } from '../config.js';
import { createKubeClient } from './client.js';
import {
  inClusterEndpoint,
  type KubeEndpoint,
  loadKubeconfigFile,
  parseKubeconfig,
  toKubeConfig,
} from './kubeconfig.js';
import type { KubePort } from './port.js';

/** Where alertfence's Kubernetes identity comes from (the kube section of the configuration). */
export type { KubeAccessMode };

export interface KubeAccess {
  mode: KubeAccessMode;
  kube: KubePort;
  /** The API server and identity `kube` uses, for a second client of it (the Node-following calls). */
  endpoint: KubeEndpoint;
  /** What the function must log loudly at start (an API server whose certificate is not checked). */
  warnings: string[];
}

/** Builds the EKS token supplier; injected so this module does not load the AWS SDK unless EKS is used. */
export type EksTokenFactory = (options: { clusterName: string; region: string }) => () => Promise<string>;

/**
 * Builds the Kubernetes client from the access the configuration names (`KubeSettings`, read from
 * `ALERTFENCE_KUBECONFIG_INLINE`, `KUBECONFIG`, the in-cluster service, or `ALERTFENCE_EKS_CLUSTER`). Throws
 * `ConfigError` when none is named or the one named cannot be loaded.
 */
export function loadKubeAccess(settings: KubeSettings, eksToken?: EksTokenFactory): KubeAccess {
  let endpoint: KubeEndpoint;
  const { allowInsecureTls } = settings;
  try {
    switch (settings.mode) {
      case 'inline':
        endpoint = parseKubeconfig(settings.kubeconfig, {
          baseDir: process.cwd(),
          source: 'ALERTFENCE_KUBECONFIG_INLINE',
          allowInsecureTls,
        });
        break;
      case 'kubeconfig':
        endpoint = loadKubeconfigFile(settings.path, { allowInsecureTls });
        break;
      case 'in-cluster':
        endpoint = inClusterEndpoint(settings);
        break;
      case 'eks': {
        if (!eksToken) throw new ConfigError('EKS access is not available in this runtime');
        const { caData, cluster, region, server } = settings;
        // The EKS IAM token plugs in as the user's authenticator: asked for before every request.
        endpoint = {
          server,
          tls: caData ? { ca: Buffer.from(caData, 'base64').toString('utf8') } : {},
          bearerToken: eksToken({ clusterName: cluster, region }),
          source: `EKS cluster ${cluster}`,
        };
        break;
      }
      case 'none':
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
  return { mode: settings.mode, kube: createKubeClient(config), endpoint: config, warnings };
}
