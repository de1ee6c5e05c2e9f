// The two things the chaos suite runs against: the Lease API emulator (plain http) and a real
// control plane started by the end-to-end harness (TLS, one or two kube-apiservers on one etcd).
import type { KubeConfig } from '@kubernetes/client-node';

import type { LeaseApiEmulator } from '../../src/testing/index.js';
import type { KubeCluster } from '../e2e/kube-cluster.js';
import type { ChaosTarget } from './harness.js';

/** `kubeConfig` as JSON, with every cluster's server replaced by `server` (a fault proxy). */
export function kubeConfigAt(kubeConfig: KubeConfig, server: string): string {
  const config = JSON.parse(kubeConfig.exportConfig()) as { clusters?: { cluster?: { server?: string } }[] };
  for (const entry of config.clusters ?? []) if (entry.cluster) entry.cluster.server = server;
  return JSON.stringify(config);
}

export function emulatorTarget(emulator: LeaseApiEmulator): ChaosTarget {
  const kubeConfig = emulator.kubeConfig();
  return {
    upstreams: [emulator.url],
    kubeConfig: (server) => kubeConfigAt(kubeConfig, server),
    namespace: 'default',
  };
}

/**
 * A real control plane: TLS through the proxies (their certificate is signed by the cluster's
 * CA, so the workers verify them as they would the API server), control-plane restarts.
 */
export async function clusterTarget(cluster: KubeCluster): Promise<ChaosTarget> {
  const kubeConfig = cluster.adminKubeConfig();
  return {
    upstreams: cluster.servers,
    upstreamCa: cluster.caCertPem,
    proxyTls: await cluster.issueServingCert('chaos-proxy'),
    kubeConfig: (server) => kubeConfigAt(kubeConfig, server),
    namespace: 'default',
    restartApiserver: (replica) => cluster.restartApiserver(replica),
    restartEtcd: () => cluster.restartEtcd(),
  };
}
