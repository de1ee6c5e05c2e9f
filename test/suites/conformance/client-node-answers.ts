// The same server through @kubernetes/client-node 1.4, as the library drives
// it: ApiException codes and raw bodies, MicroTime handling, list and watch.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { ApiException, CoordinationV1Api, V1MicroTime, Watch } from '@kubernetes/client-node';

import { waitFor } from '../../helpers/wait-for.js';
import { uniqueLeaseName } from '../lease-server.js';
import { failureStatus, leaseDetails, MICRO_TIME, type Conformance } from './context.js';

async function apiError(call: Promise<unknown>): Promise<{ code: number; body: unknown }> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ApiException, `expected an ApiException, got ${String(error)}`);
    assert.equal(typeof error.body, 'string', 'client-node 1.4 gives the raw body');
    return { code: error.code, body: JSON.parse(error.body as string) };
  }
  assert.fail('expected the call to fail');
}

export function clientNodeAnswers(suite: () => Conformance): void {
  it('refusals are ApiExceptions with the code and the Status as a raw JSON string', async () => {
    const c = suite();
    const api = c.server.kubeConfig().makeApiClient(CoordinationV1Api);
    const name = uniqueLeaseName('client-missing');
    assert.deepEqual(await apiError(api.readNamespacedLease({ name, namespace: c.namespace })), {
      code: 404,
      body: failureStatus(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`, leaseDetails(name)),
    });
  });

  it('V1MicroTime is written with six digits and read back as a string; a plain Date is refused', async () => {
    const c = suite();
    const api = c.server.kubeConfig().makeApiClient(CoordinationV1Api);
    const name = uniqueLeaseName('client-micro');
    const renewTime = new V1MicroTime();
    const created = await api.createNamespacedLease({ namespace: c.namespace, body: { metadata: { name }, spec: { holderIdentity: 'a', renewTime } } });
    const read = await api.readNamespacedLease({ name, namespace: c.namespace });
    assert.equal(typeof read.spec?.renewTime, 'string');
    assert.match(String(read.spec?.renewTime), MICRO_TIME);
    assert.equal(new Date(String(read.spec?.renewTime)).getTime(), renewTime.getTime());

    const stale = { ...created, spec: { ...created.spec, holderIdentity: 'b' } };
    await api.replaceNamespacedLease({ name, namespace: c.namespace, body: { ...read, spec: { ...read.spec, holderIdentity: 'b' } } });
    assert.equal((await apiError(api.replaceNamespacedLease({ name, namespace: c.namespace, body: stale }))).code, 409);

    const refused = await apiError(
      api.createNamespacedLease({ namespace: c.namespace, body: { metadata: { name: uniqueLeaseName('client-date') }, spec: { renewTime: new Date() } } }),
    );
    assert.equal(refused.code, 400);
    assert.equal((refused.body as { reason?: string }).reason, 'BadRequest');
  });

  it('a list by field selector carries the resourceVersion a watch starts from; Watch streams the changes', async () => {
    const c = suite();
    const config = c.server.kubeConfig();
    const api = config.makeApiClient(CoordinationV1Api);
    const name = uniqueLeaseName('client-watch');
    const created = await api.createNamespacedLease({ namespace: c.namespace, body: { metadata: { name }, spec: { holderIdentity: 'a' } } });
    const list = await api.listNamespacedLease({ namespace: c.namespace, fieldSelector: `metadata.name=${name}` });
    assert.equal(list.items.length, 1);
    const resourceVersion = list.metadata?.resourceVersion;
    assert.ok(resourceVersion !== undefined && /^\d+$/.test(resourceVersion));

    const events: { type: string; holder: unknown }[] = [];
    const controller = await new Watch(config).watch(
      `/apis/coordination.k8s.io/v1/namespaces/${c.namespace}/leases`,
      { fieldSelector: `metadata.name=${name}`, resourceVersion, timeoutSeconds: 30 },
      (type, object: { spec?: { holderIdentity?: string } }) => events.push({ type, holder: object.spec?.holderIdentity }),
      () => {},
    );
    try {
      await api.replaceNamespacedLease({ name, namespace: c.namespace, body: { ...created, spec: { holderIdentity: 'b' } } });
      await waitFor(() => events.length > 0, 'a watch event');
      assert.deepEqual(events, [{ type: 'MODIFIED', holder: 'b' }]);
    } finally {
      controller.abort();
    }
  });
}
