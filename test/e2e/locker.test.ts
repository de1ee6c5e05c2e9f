// The shared behaviour suite against a real kube-apiserver and etcd.
import { lockerBehaviourSuite } from '../suites/locker-behaviour.js';
import { startKubeCluster } from './kube-cluster.js';

let users = 0;

lockerBehaviourSuite('LeaseLocker against a real kube-apiserver', async () => {
  const cluster = await startKubeCluster();
  const namespace = 'leaselocker-e2e';
  await cluster.createNamespace(namespace);
  return {
    name: `kube-apiserver ${cluster.version}`,
    namespace,
    kubeConfig: () => cluster.adminKubeConfig(),
    userWith: async (verbs) => {
      users += 1;
      return cluster.createUser(`locker-${users}`, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: [...verbs] }], namespace);
    },
    close: () => cluster.stop(),
  };
});
