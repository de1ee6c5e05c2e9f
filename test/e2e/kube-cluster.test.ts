// Smoke test of the e2e harness against a real kube-apiserver: Lease
// create/read, optimistic-concurrency conflict on a stale resourceVersion,
// direct access to etcd, and RBAC denial for a user who may only read Leases.
//
//   npm run test:e2e
//
// The first run builds kube-apiserver and etcd (several minutes); later runs
// reuse the cached binaries.
import { ApiException, CoordinationV1Api, V1MicroTime, Watch, type V1Lease } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { waitFor } from '../helpers/wait-for.js';

import { startKubeCluster, type KubeCluster } from './kube-cluster.js';

const NAMESPACE = 'default';
const LEASE_API_GROUP = 'coordination.k8s.io';

// Kubernetes MicroTime: exactly six fractional digits, or the server answers 400.
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

async function apiError(promise: Promise<unknown>): Promise<ApiException<string>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiException) return error as ApiException<string>;
    throw error;
  }
  assert.fail('expected the API call to fail');
}

/** POSTs JSON to etcd's v3 gateway (plain http, its own connection) and returns the parsed answer. */
function etcdPost(etcdUrl: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, etcdUrl), { method: 'POST', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('kube-cluster harness (real kube-apiserver)', () => {
  let cluster: KubeCluster;

  before(
    async () => {
      const started = performance.now();
      cluster = await startKubeCluster();
      console.error(`${cluster.version} ready at ${cluster.server} in ${Math.round(performance.now() - started)} ms`);
    },
    { timeout: 60 * 60_000 }, // includes a first-time build of the binaries
  );

  after(async () => {
    await cluster?.stop();
  });

  it('reports the pinned Kubernetes version', () => {
    assert.match(cluster.version, /^v1\.\d+\.\d+$/);
    assert.match(cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('creates a Lease and rejects a replace with a stale resourceVersion (409 Conflict)', async () => {
    const leases = cluster.adminKubeConfig().makeApiClient(CoordinationV1Api);
    const now = new V1MicroTime();
    assert.match(JSON.stringify(now).slice(1, -1), MICRO_TIME);

    const created = await leases.createNamespacedLease({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'smoke-conflict' },
        spec: { holderIdentity: 'holder-a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      },
    });
    const staleVersion = created.metadata?.resourceVersion;
    assert.ok(staleVersion, 'a created Lease has a resourceVersion');

    const read = await leases.readNamespacedLease({ name: 'smoke-conflict', namespace: NAMESPACE });
    assert.equal(read.spec?.holderIdentity, 'holder-a');
    // client-node does not revive MicroTime fields: they come back as strings.
    assert.match(String(read.spec?.renewTime), MICRO_TIME);

    const renewed = await leases.replaceNamespacedLease({
      name: 'smoke-conflict',
      namespace: NAMESPACE,
      body: { ...read, spec: { ...read.spec, renewTime: new V1MicroTime() } },
    });
    assert.notEqual(renewed.metadata?.resourceVersion, staleVersion);

    const stale: V1Lease = {
      ...created,
      metadata: { ...created.metadata, resourceVersion: staleVersion },
      spec: { ...created.spec, holderIdentity: 'holder-b', renewTime: new V1MicroTime() },
    };
    const conflict = await apiError(
      leases.replaceNamespacedLease({ name: 'smoke-conflict', namespace: NAMESPACE, body: stale }),
    );
    assert.equal(conflict.code, 409);
    assert.equal((JSON.parse(conflict.body) as { reason?: string }).reason, 'Conflict');
  });

  it('etcdUrl reaches etcd; compacting it does not expire watches: the watch cache keeps its own history', async () => {
    const leases = cluster.adminKubeConfig().makeApiClient(CoordinationV1Api);
    const name = 'smoke-compaction';
    const created = await leases.createNamespacedLease({ namespace: NAMESPACE, body: { metadata: { name }, spec: { holderIdentity: 'a' } } });
    await leases.replaceNamespacedLease({ name, namespace: NAMESPACE, body: { ...created, spec: { holderIdentity: 'b' } } });
    const old = created.metadata?.resourceVersion ?? '';

    const range = await etcdPost(cluster.etcdUrl, '/v3/kv/range', { key: Buffer.from('/').toString('base64') });
    const revision = (range.json['header'] as { revision: string }).revision;
    const compaction = await etcdPost(cluster.etcdUrl, '/v3/kv/compaction', { revision, physical: true });
    assert.equal(compaction.status, 200);

    // A watch from the old revision is served from the watch cache, which keeps its own history.
    const holders: unknown[] = [];
    const watch = await new Watch(cluster.adminKubeConfig()).watch(
      `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`,
      { fieldSelector: `metadata.name=${name}`, resourceVersion: old, timeoutSeconds: 30 },
      (type, object: V1Lease) => holders.push(`${type} ${object.spec?.holderIdentity ?? ''}`),
      () => {},
    );
    try {
      await waitFor(() => holders.length > 0, 'the watch to replay the update');
      assert.deepEqual(holders, ['MODIFIED b']);
    } finally {
      watch.abort();
    }
  });

  it('denies update (403) to a user allowed only to get Leases', async () => {
    const admin = cluster.adminKubeConfig().makeApiClient(CoordinationV1Api);
    const lease = await admin.createNamespacedLease({
      namespace: NAMESPACE,
      body: { metadata: { name: 'smoke-rbac' }, spec: { holderIdentity: 'holder-a', leaseDurationSeconds: 15 } },
    });

    const readerConfig = await cluster.createUser('lease-reader', [
      { verbs: ['get'], resources: ['leases'], apiGroups: [LEASE_API_GROUP] },
    ]);
    assert.equal(cluster.kubeConfigFor('lease-reader').getCurrentUser()?.name, 'lease-reader');
    const reader = readerConfig.makeApiClient(CoordinationV1Api);

    const seen = await reader.readNamespacedLease({ name: 'smoke-rbac', namespace: NAMESPACE });
    assert.equal(seen.spec?.holderIdentity, 'holder-a');

    const denied = await apiError(
      reader.replaceNamespacedLease({
        name: 'smoke-rbac',
        namespace: NAMESPACE,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: 'holder-b' } },
      }),
    );
    assert.equal(denied.code, 403);
    assert.equal((JSON.parse(denied.body) as { reason?: string }).reason, 'Forbidden');
  });
});
