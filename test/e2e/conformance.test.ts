// The Lease API conformance suite against a real kube-apiserver and etcd (the
// same suite runs against the emulator in test/emulator-conformance.test.ts).

import { leaseApiConformanceSuite } from '../suites/lease-api-conformance.js';
import { startKubeCluster } from './kube-cluster.js';
import { USERS_NAMESPACE } from './kube-users.js';

const NAMESPACE = 'leaselocker-conformance';

let users = 0;

leaseApiConformanceSuite('Lease API conformance: real kube-apiserver', async () => {
  const cluster = await startKubeCluster();
  try {
    await cluster.createNamespace(NAMESPACE);
    const admin = cluster.adminKubeConfig();
    const caData = admin.getCurrentCluster()?.caData;
    const adminToken = admin.getCurrentUser()?.token;
    if (caData === undefined || adminToken === undefined) throw new Error('the admin kubeconfig has no CA or token');
    return {
      name: `kube-apiserver ${cluster.version}`,
      url: cluster.server,
      ca: Buffer.from(caData, 'base64').toString('utf8'),
      adminToken,
      kubeConfig: () => cluster.adminKubeConfig(),
      namespace: NAMESPACE,
      userWith: async (verbs) => {
        users += 1;
        const name = `conformance-${users}`;
        const config = await cluster.createUser(name, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: [...verbs] }], NAMESPACE);
        const token = config.getCurrentUser()?.token;
        if (token === undefined) throw new Error(`no token for user ${name}`);
        // Users are ServiceAccounts: the server names them by namespace and name.
        return { name: `system:serviceaccount:${USERS_NAMESPACE}:${name}`, token };
      },
      // A restarted kube-apiserver's watch cache starts at the current revision.
      forgetWatchHistory: () => cluster.restartApiserver(),
      close: () => cluster.stop(),
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
});
