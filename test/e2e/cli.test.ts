// The `leaselocker` command (dist/cli.js, built by `npm run build`) against a real
// kube-apiserver: the shared scenarios of test/suites/cli-behaviour.ts (which test/cli.test.ts
// runs against the emulator), then RBAC refusals, which take the server's own authorizer.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { it } from 'node:test';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { LeaseApiError, LeaseLock } from '../../src/index.js';
import { exitCodes } from '../../src/cli/exit-codes.js';
import { leaselocker } from '../helpers/cli-process.js';
import { cliBehaviourSuite } from '../suites/cli-behaviour.js';
import { uniqueLeaseName } from '../suites/lease-server.js';
import { startKubeCluster } from './kube-cluster.js';
import type { KubeCluster } from './kube-cluster.js';

const namespace = 'leaselocker-e2e-cli';

/** `kubeConfig` with `namespace` as its current context's namespace, as `kubectl config set-context --current --namespace` leaves it. */
function inNamespace(kubeConfig: KubeConfig, namespace: string): KubeConfig {
  const scoped = new KubeConfig();
  scoped.loadFromOptions({
    clusters: kubeConfig.getClusters(),
    users: kubeConfig.getUsers(),
    contexts: kubeConfig.getContexts().map((context) => (context.name === kubeConfig.getCurrentContext() ? { ...context, namespace } : context)),
    currentContext: kubeConfig.getCurrentContext(),
  });
  return scoped;
}

let cluster: KubeCluster;

cliBehaviourSuite('the leaselocker command against a real kube-apiserver', async () => {
  cluster = await startKubeCluster();
  await cluster.createNamespace(namespace);
  const admin = inNamespace(cluster.adminKubeConfig(), namespace);
  const lock = (name: string): LeaseLock => new LeaseLock(admin, { namespace, name }, 'e2e-test');
  return {
    namespace,
    kubeConfig: () => admin,
    // An outside client's write: read, then create or replace; again when the holder wrote in between (409).
    putLease: async (name, record) => {
      for (;;) {
        const current = await lock(name).get();
        try {
          if (current === undefined) await lock(name).create(record);
          else await lock(name).update(record, current);
          return;
        } catch (error) {
          if (!(error instanceof LeaseApiError && error.statusCode === 409)) throw error;
        }
      }
    },
    readLease: async (name) => {
      const snapshot = await lock(name).get();
      if (snapshot === undefined) return undefined;
      const { holderIdentity, leaseTransitions, leaseDurationSeconds, acquireTime, renewTime } = snapshot.record;
      return { holderIdentity, leaseTransitions, leaseDurationSeconds, acquireTime: acquireTime?.toISOString(), renewTime: renewTime?.toISOString(), resourceVersion: snapshot.version };
    },
    deleteLease: async (name) => {
      try {
        await admin.makeApiClient(CoordinationV1Api).deleteNamespacedLease({ namespace, name });
        return true;
      } catch (error) {
        if ((error as { code?: unknown }).code === 404) return false;
        throw error;
      }
    },
    close: () => cluster.stop(),
  };
}, (cli) => {
  it('an identity RBAC does not allow to write leases: exit 69 at once, with the server\'s reason', async () => {
    const readOnly = await cluster.createUser('cli-reader', [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] }], namespace);
    const file = cli.path('reader-kubeconfig');
    await writeFile(file, readOnly.exportConfig(), { mode: 0o600 });
    const marker = cli.path('ran');
    const outcome = await leaselocker(['run', '--lease', `${namespace}/${uniqueLeaseName('cli-rbac')}`, '--kubeconfig', file, '--', '/bin/sh', '-c', `touch "${marker}"`]);
    assert.equal(outcome.code, exitCodes.cluster, outcome.stderr);
    assert.match(outcome.stderr, /^leaselocker: create lease .*: HTTP 403 Forbidden: .*cannot create resource "leases"/);
    assert.equal(existsSync(marker), false);
  });
});
