// Authentication and RBAC refusals: 401 for a bad token, 403 with the
// authorizer's wording for a verb the identity lacks.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';

import { uniqueLeaseName } from '../lease-server.js';
import { assertStatus, failureStatus, type Conformance, type LimitedUser } from './context.js';
import type { RawAnswer } from './raw-http.js';

export function accessControl(suite: () => Conformance): void {
  let reader: LimitedUser;
  let updater: LimitedUser;

  before(async () => {
    const c = suite();
    [reader, updater] = await Promise.all([c.server.userWith(['get']), c.server.userWith(['get', 'update'])]);
  });

  function forbidden(c: Conformance, user: string, verb: string, name: string | undefined, namespace = c.namespace): Record<string, unknown> {
    const subject = name === undefined ? 'leases.coordination.k8s.io' : `leases.coordination.k8s.io "${name}"`;
    return failureStatus(
      403,
      'Forbidden',
      `${subject} is forbidden: User "${user}" cannot ${verb} resource "leases" in API group "coordination.k8s.io" in the namespace "${namespace}"`,
      { ...(name !== undefined && { name }), group: 'coordination.k8s.io', kind: 'leases' },
    );
  }

  /** A refusal of the authorization filter, which also sends X-Content-Type-Options. */
  function assertForbidden(answer: RawAnswer, expected: Record<string, unknown>): void {
    assertStatus(answer, expected);
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
  }

  it('a user without the verb gets 403 for update, create, delete, list and watch, naming the lease when the request does', async () => {
    const c = suite();
    const name = uniqueLeaseName('guarded');
    const lease = await c.create(name, { holderIdentity: 'a' });
    const as = { token: reader.token };
    assert.equal((await c.request('GET', c.path(name), as)).status, 200);
    assertForbidden(
      await c.put(name, { resourceVersion: lease.metadata.resourceVersion }, { holderIdentity: 'b' }, as),
      forbidden(c, reader.name, 'update', name),
    );
    assertForbidden(await c.request('POST', c.path(), { ...as, body: { metadata: { name: uniqueLeaseName('x') } } }), forbidden(c, reader.name, 'create', undefined));
    assertForbidden(await c.request('DELETE', c.path(name), as), forbidden(c, reader.name, 'delete', name));
    assertForbidden(await c.request('GET', c.path(), as), forbidden(c, reader.name, 'list', undefined));
    assertForbidden(
      await c.request('GET', c.path(undefined, { fieldSelector: `metadata.name=${name}` }), as),
      forbidden(c, reader.name, 'list', name),
    );
    assertForbidden(await c.request('GET', c.path(undefined, { watch: '1' }), as), forbidden(c, reader.name, 'watch', undefined));
    assertForbidden(await c.request('GET', c.watchPath(name), as), forbidden(c, reader.name, 'watch', name));
  });

  it('a user with get and update gets 403 naming "create" for a PUT that would create, after validation', async () => {
    const c = suite();
    const name = uniqueLeaseName('update-only');
    const as = { token: updater.token };
    // The handler refuses this one, not the authorization filter: no nosniff header.
    const refused = await c.put(name, {}, { holderIdentity: 'a' }, as);
    assertStatus(refused, forbidden(c, updater.name, 'create', name));
    assert.equal(refused.headers['x-content-type-options'], undefined);
    const invalid = await c.put(name, {}, { leaseDurationSeconds: 0 }, as);
    assert.equal(invalid.status, 422, invalid.text);
    // Updating an existing lease is allowed.
    const lease = await c.create(name, { holderIdentity: 'a' });
    assert.equal((await c.put(name, { resourceVersion: lease.metadata.resourceVersion }, { holderIdentity: 'b' }, as)).status, 200);
  });

  it('a user is confined to its namespace', async () => {
    const c = suite();
    const name = uniqueLeaseName('elsewhere');
    assertForbidden(
      await c.request('GET', `/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}`, { token: reader.token }),
      forbidden(c, reader.name, 'get', name, 'default'),
    );
  });

  it('an unknown token answers 401 Unauthorized', async () => {
    const c = suite();
    assertStatus(
      await c.request('GET', c.path(uniqueLeaseName('any')), { token: 'not-a-token' }),
      failureStatus(401, 'Unauthorized', 'Unauthorized'),
    );
  });

  it('no token is system:anonymous, which may not read leases', async () => {
    const c = suite();
    const name = uniqueLeaseName('anonymous');
    assertForbidden(await c.request('GET', c.path(name), { token: null }), forbidden(c, 'system:anonymous', 'get', name));
  });
}
