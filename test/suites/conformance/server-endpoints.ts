// The endpoints a client or a readiness probe reads before it uses leases:
// version, health and API discovery.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { assertStatus, failureStatus, type Conformance } from './context.js';

export function serverEndpoints(suite: () => Conformance): void {
  it('/version names a v1 release, with the fields of a current server, to anyone', async () => {
    const c = suite();
    for (const as of [{}, { token: null }]) {
      const answer = await c.request('GET', '/version', as);
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.headers['content-type'], 'application/json');
      const version = answer.json<Record<string, string>>();
      assert.deepEqual(Object.keys(version), [
        'major',
        'minor',
        'emulationMajor',
        'emulationMinor',
        'minCompatibilityMajor',
        'minCompatibilityMinor',
        'gitVersion',
        'gitCommit',
        'gitTreeState',
        'buildDate',
        'goVersion',
        'compiler',
        'platform',
      ]);
      assert.match(version['gitVersion'] ?? '', new RegExp(`^v${version['major'] ?? ''}\\.${version['minor'] ?? ''}\\.\\d+$`));
      assert.equal(version['compiler'], 'gc');
    }
  });

  it('health endpoints answer a plain "ok", to anyone', async () => {
    const c = suite();
    for (const path of ['/healthz', '/livez', '/readyz']) {
      const answer = await c.request('GET', path, { token: null });
      assert.equal(answer.status, 200, path);
      assert.equal(answer.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(answer.headers['x-content-type-options'], 'nosniff');
      assert.equal(answer.text, 'ok');
    }
  });

  it('discovery documents the Lease resource; anonymous users may not read it', async () => {
    const c = suite();
    const group = await c.request('GET', '/apis/coordination.k8s.io');
    assert.equal(group.status, 200, group.text);
    const version = { groupVersion: 'coordination.k8s.io/v1', version: 'v1' };
    assert.deepEqual(group.json(), { kind: 'APIGroup', apiVersion: 'v1', name: 'coordination.k8s.io', versions: [version], preferredVersion: version });
    const resources = await c.request('GET', '/apis/coordination.k8s.io/v1');
    assert.equal(resources.status, 200, resources.text);
    assert.deepEqual(resources.json(), {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'coordination.k8s.io/v1',
      resources: [
        {
          name: 'leases',
          singularName: 'lease',
          namespaced: true,
          kind: 'Lease',
          verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
          storageVersionHash: 'gqkMMb/YqFM=',
        },
      ],
    });
    const anonymous = await c.request('GET', '/apis', { token: null });
    assertStatus(anonymous, failureStatus(403, 'Forbidden', 'forbidden: User "system:anonymous" cannot get path "/apis"', {}));
    assert.equal(anonymous.headers['x-content-type-options'], 'nosniff');
  });
}
