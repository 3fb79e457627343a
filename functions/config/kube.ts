/** The kube section: where alertfence's Kubernetes identity comes from (`functions/kube/access.ts` builds it). */
import * as z from 'zod';
import { bool, url } from './fields.js';

/** Where alertfence's Kubernetes identity comes from, in order of precedence. */
export type KubeAccessMode = 'inline' | 'kubeconfig' | 'in-cluster' | 'eks';

/** The Kubernetes access the environment names; `none` when it names none (a test or the demo injects one). */
export type KubeSettings = {
  /** Accept a kubeconfig with `insecure-skip-tls-verify` (`ALERTFENCE_KUBE_ALLOW_INSECURE_TLS`). */
  allowInsecureTls: boolean;
  /**
   * Keep the Nodes in memory with a watch where the process stays up (the Node server, OpenFaaS), so an alert
   * counts the cluster without reading it (`ALERTFENCE_FOLLOW_NODES`, on by default; a Lambda never does).
   */
  followNodes: boolean;
} & (
  | { mode: 'inline'; kubeconfig: string }
  | { mode: 'kubeconfig'; path: string }
  | { mode: 'in-cluster'; host: string; port: string }
  | { mode: 'eks'; cluster: string; server: string; region: string; caData: string | undefined }
  | { mode: 'none' }
);

/**
 * The first of these that is set wins:
 * - `ALERTFENCE_KUBECONFIG_INLINE` (or `_FILE`): a whole kubeconfig as text;
 * - `KUBECONFIG`: a kubeconfig path;
 * - in a cluster (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`): the pod's service account;
 * - `ALERTFENCE_EKS_CLUSTER` with `ALERTFENCE_KUBE_SERVER`, `ALERTFENCE_KUBE_CA_DATA` and `AWS_REGION` (or
 *   `AWS_DEFAULT_REGION`): an EKS IAM token generated from the function's AWS role.
 */
export const kubeSection = z
  .object({
    ALERTFENCE_KUBECONFIG_INLINE: z.string().optional(),
    KUBECONFIG: z.string().optional(),
    KUBERNETES_SERVICE_HOST: z.string().optional(),
    KUBERNETES_SERVICE_PORT: z.string().regex(/^\d+$/, 'must be a port number').default('443'),
    ALERTFENCE_EKS_CLUSTER: z.string().optional(),
    ALERTFENCE_KUBE_SERVER: url(['https:']).optional(),
    ALERTFENCE_KUBE_CA_DATA: z
      .string()
      .regex(/^[A-Za-z0-9+/\s]+=*\s*$/, 'must be the base64 of the cluster CA (certificateAuthority.data)')
      .optional(),
    AWS_REGION: z.string().optional(),
    AWS_DEFAULT_REGION: z.string().optional(),
    ALERTFENCE_KUBE_ALLOW_INSECURE_TLS: bool('ALERTFENCE_KUBE_ALLOW_INSECURE_TLS').default(false),
    ALERTFENCE_FOLLOW_NODES: bool('ALERTFENCE_FOLLOW_NODES').default(true),
  })
  .refine(
    // Checked even when other variables are bad (`when`), so that one message names them all.
    (c) =>
      !c.ALERTFENCE_EKS_CLUSTER ||
      Boolean(c.ALERTFENCE_KUBECONFIG_INLINE || c.KUBECONFIG || c.KUBERNETES_SERVICE_HOST) ||
      Boolean(c.ALERTFENCE_KUBE_SERVER && (c.AWS_REGION ?? c.AWS_DEFAULT_REGION)),
    {
      path: ['ALERTFENCE_KUBE_SERVER'],
      message: 'EKS access needs ALERTFENCE_KUBE_SERVER (the cluster endpoint) and AWS_REGION',
      when: () => true,
    },
  )
  .transform((c): KubeSettings => {
    const common = {
      allowInsecureTls: c.ALERTFENCE_KUBE_ALLOW_INSECURE_TLS,
      followNodes: c.ALERTFENCE_FOLLOW_NODES,
    };
    if (c.ALERTFENCE_KUBECONFIG_INLINE) {
      return { ...common, mode: 'inline', kubeconfig: c.ALERTFENCE_KUBECONFIG_INLINE };
    }
    if (c.KUBECONFIG) return { ...common, mode: 'kubeconfig', path: c.KUBECONFIG };
    if (c.KUBERNETES_SERVICE_HOST) {
      return {
        ...common,
        mode: 'in-cluster',
        host: c.KUBERNETES_SERVICE_HOST,
        port: c.KUBERNETES_SERVICE_PORT,
      };
    }
    if (!c.ALERTFENCE_EKS_CLUSTER) return { ...common, mode: 'none' };
    return {
      ...common,
      mode: 'eks',
      cluster: c.ALERTFENCE_EKS_CLUSTER,
      // Both there: the refinement above refused the configuration otherwise.
      server: c.ALERTFENCE_KUBE_SERVER ?? '',
      region: c.AWS_REGION ?? c.AWS_DEFAULT_REGION ?? '',
      caData: c.ALERTFENCE_KUBE_CA_DATA,
    };
  });
