// The refusals of reads and writes: codes and exact Status bodies.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';

import { uniqueLeaseName } from '../lease-server.js';
import { assertStatus, failureStatus, leaseDetails, UUID, type Conformance } from './context.js';

const OPTIMISTIC_LOCK = 'the object has been modified; please apply your changes to the latest version and try again';

export function errorAnswers(suite: () => Conformance): void {
  it('GET and DELETE of a missing lease answer 404 NotFound, with the API headers', async () => {
    const c = suite();
    const name = uniqueLeaseName('missing');
    const expected = failureStatus(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`, leaseDetails(name));
    const get = await c.request('GET', c.path(name));
    assertStatus(get, expected);
    assert.equal(get.headers['cache-control'], 'no-cache, private');
    assert.match(String(get.headers['audit-id']), UUID);
    assertStatus(await c.request('DELETE', c.path(name)), expected);
  });

  it('PUT with a uid to a missing name answers 409 Conflict: the uid is a storage precondition', async () => {
    const c = suite();
    const name = uniqueLeaseName('missing-uid');
    const uid = randomUUID();
    assertStatus(
      await c.put(name, { uid }),
      uidPreconditionConflict(c.namespace, name, uid),
    );
  });

  it('PUT carrying the uid of a deleted lease answers 409 Conflict instead of recreating it', async () => {
    const c = suite();
    const name = uniqueLeaseName('deleted-uid');
    const created = await c.create(name, { holderIdentity: 'a' });
    assert.equal((await c.request('DELETE', c.path(name))).status, 200);
    const { uid, resourceVersion } = created.metadata;
    assertStatus(
      await c.put(name, { uid, resourceVersion }, { holderIdentity: 'a' }),
      uidPreconditionConflict(c.namespace, name, uid),
    );
    assert.equal((await c.request('GET', c.path(name))).status, 404);
  });

  it('a uid other than the stored one is the same precondition failure', async () => {
    const c = suite();
    const name = uniqueLeaseName('other-uid');
    const created = await c.create(name);
    const uid = randomUUID();
    assertStatus(
      await c.put(name, { uid, resourceVersion: created.metadata.resourceVersion }),
      failureStatus(
        409,
        'Conflict',
        `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": StorageError: invalid object, Code: 4, ` +
          `Key: /registry/leases/${c.namespace}/${name}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: ` +
          `UID in precondition: ${uid}, UID in object meta: ${created.metadata.uid}`,
        leaseDetails(name),
      ),
    );
  });

  it('POST of a taken name answers 409 AlreadyExists', async () => {
    const c = suite();
    const name = uniqueLeaseName('taken');
    await c.create(name);
    assertStatus(
      await c.request('POST', c.path(), { body: { metadata: { name }, spec: { holderIdentity: 'b' } } }),
      failureStatus(409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`, leaseDetails(name)),
    );
  });

  it('PUT with a stale resourceVersion answers 409 Conflict', async () => {
    const c = suite();
    const name = uniqueLeaseName('stale');
    const created = await c.create(name, { holderIdentity: 'a' });
    const stale = created.metadata.resourceVersion;
    assert.equal((await c.put(name, { resourceVersion: stale }, { holderIdentity: 'b' })).status, 200);
    assertStatus(
      await c.put(name, { resourceVersion: stale }, { holderIdentity: 'c' }),
      failureStatus(409, 'Conflict', `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": ${OPTIMISTIC_LOCK}`, leaseDetails(name)),
    );
  });

  it('PUT without a resourceVersion to an existing lease answers 422: leases allow no unconditional update', async () => {
    const c = suite();
    const name = uniqueLeaseName('unconditional');
    await c.create(name);
    const cause = 'Invalid value: 0: must be specified for an update';
    assertStatus(
      await c.put(name, {}, { holderIdentity: 'b' }),
      failureStatus(422, 'Invalid', `leases.coordination.k8s.io "${name}" is invalid: metadata.resourceVersion: ${cause}`, {
        ...leaseDetails(name),
        causes: [{ reason: 'FieldValueInvalid', message: cause, field: 'metadata.resourceVersion' }],
      }),
    );
  });

  it('a name that is not an RFC 1123 subdomain answers 422 Invalid', async () => {
    const c = suite();
    const name = 'Not_A_Name';
    const cause =
      `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', ` +
      "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    assertStatus(
      await c.request('POST', c.path(), { body: { metadata: { name } } }),
      failureStatus(422, 'Invalid', `Lease.coordination.k8s.io "${name}" is invalid: metadata.name: ${cause}`, {
        name,
        group: 'coordination.k8s.io',
        kind: 'Lease',
        causes: [{ reason: 'FieldValueInvalid', message: cause, field: 'metadata.name' }],
      }),
    );
  });

  it('leaseDurationSeconds <= 0 and leaseTransitions < 0 answer 422 with one cause each', async () => {
    const c = suite();
    const name = uniqueLeaseName('invalid-spec');
    const expected = failureStatus(
      422,
      'Invalid',
      `Lease.coordination.k8s.io "${name}" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0, ` +
        'spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]',
      {
        name,
        group: 'coordination.k8s.io',
        kind: 'Lease',
        causes: [
          { reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be greater than 0', field: 'spec.leaseDurationSeconds' },
          { reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0', field: 'spec.leaseTransitions' },
        ],
      },
    );
    const body = { metadata: { name }, spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } };
    assertStatus(await c.request('POST', c.path(), { body }), expected);
    // The same rules hold for updates.
    const created = await c.create(name);
    assertStatus(
      await c.put(name, { resourceVersion: created.metadata.resourceVersion }, { leaseDurationSeconds: 0, leaseTransitions: -1 }),
      expected,
    );
  });

  it('a negative leaseDurationSeconds is one cause', async () => {
    const c = suite();
    const name = uniqueLeaseName('negative');
    assertStatus(
      await c.request('POST', c.path(), { body: { metadata: { name }, spec: { leaseDurationSeconds: -5 } } }),
      failureStatus(422, 'Invalid', `Lease.coordination.k8s.io "${name}" is invalid: spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0`, {
        name,
        group: 'coordination.k8s.io',
        kind: 'Lease',
        causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: -5: must be greater than 0', field: 'spec.leaseDurationSeconds' }],
      }),
    );
  });

  it('PUT whose body names another lease than the URL answers 400 BadRequest', async () => {
    const c = suite();
    const name = uniqueLeaseName('url-name');
    await c.create(name);
    assertStatus(
      await c.request('PUT', c.path(name), { body: { metadata: { name: 'other' }, spec: {} } }),
      failureStatus(400, 'BadRequest', `the name of the object (other) does not match the name on the URL (${name})`),
    );
  });

  it('POST with a resourceVersion answers 500 with a plain message', async () => {
    const c = suite();
    assertStatus(
      await c.request('POST', c.path(), { body: { metadata: { name: uniqueLeaseName('with-rv'), resourceVersion: '5' } } }),
      failureStatus(500, undefined, 'resourceVersion should not be set on objects to be created'),
    );
  });

  it('checks come in the server\'s order: create validates first; update checks the resourceVersion first', async () => {
    const c = suite();
    const invalidName = await c.request('POST', c.path(), { body: { metadata: { name: 'Bad_Name', resourceVersion: '5' } } });
    assert.equal(invalidName.status, 422, invalidName.text);
    // A resourceVersion that is not a number is no "set" resourceVersion to a create.
    const created = await c.request('POST', c.path(), { body: { metadata: { name: uniqueLeaseName('rv-text-create'), resourceVersion: 'abc' } } });
    assert.equal(created.status, 201, created.text);
    const name = uniqueLeaseName('order');
    await c.create(name);
    const stale = await c.put(name, { resourceVersion: '1' }, { leaseDurationSeconds: 0 });
    assert.equal(stale.status, 409, stale.text);
    const missing = await c.put(name, {}, { leaseDurationSeconds: 0 });
    assert.equal(missing.status, 422, missing.text);
    assert.equal(missing.json<{ details: { causes: { field: string }[] } }>().details.causes[0]?.field, 'metadata.resourceVersion');
  });

  it('PUT with a resourceVersion that is not a uint64 answers 500', async () => {
    const c = suite();
    const name = uniqueLeaseName('rv-text');
    await c.create(name);
    assertStatus(
      await c.put(name, { resourceVersion: 'abc' }),
      failureStatus(500, undefined, 'strconv.ParseUint: parsing "abc": invalid syntax'),
    );
    assertStatus(
      await c.put(name, { resourceVersion: '99999999999999999999999' }),
      failureStatus(500, undefined, 'strconv.ParseUint: parsing "99999999999999999999999": value out of range'),
    );
  });

  it('writes into a namespace that does not exist answer 404 for the namespace; a read 404 for the lease', async () => {
    const c = suite();
    const name = uniqueLeaseName('no-namespace');
    const base = '/apis/coordination.k8s.io/v1/namespaces/no-such-namespace/leases';
    const missing = failureStatus(404, 'NotFound', 'namespaces "no-such-namespace" not found', { name: 'no-such-namespace', kind: 'namespaces' });
    assertStatus(await c.request('POST', base, { body: { metadata: { name } } }), missing);
    assertStatus(await c.request('PUT', `${base}/${name}`, { body: { metadata: { name } } }), missing);
    assertStatus(
      await c.request('GET', `${base}/${name}`),
      failureStatus(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`, leaseDetails(name)),
    );
  });

  it('DELETE honours uid and resourceVersion preconditions (409 naming the kind) and answers a Success Status', async () => {
    const c = suite();
    const name = uniqueLeaseName('preconditions');
    const { uid, resourceVersion } = (await c.create(name)).metadata;
    const details = { name, group: 'coordination.k8s.io', kind: 'Lease' };
    assertStatus(
      await c.request('DELETE', c.path(name), { body: { preconditions: { uid: 'not-the-uid' } } }),
      failureStatus(
        409,
        'Conflict',
        `Operation cannot be fulfilled on Lease.coordination.k8s.io "${name}": the UID in the precondition (not-the-uid) does not match ` +
          `the UID in record (${uid}). The object might have been deleted and then recreated`,
        details,
      ),
    );
    assertStatus(
      await c.request('DELETE', c.path(name), { body: { preconditions: { resourceVersion: '1' } } }),
      failureStatus(
        409,
        'Conflict',
        `Operation cannot be fulfilled on Lease.coordination.k8s.io "${name}": the ResourceVersion in the precondition (1) does not ` +
          `match the ResourceVersion in record (${resourceVersion}). The object might have been modified`,
        details,
      ),
    );
    const deleted = await c.request('DELETE', c.path(name), { body: { preconditions: { uid, resourceVersion } } });
    assert.equal(deleted.status, 200, deleted.text);
    assert.deepEqual(deleted.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { ...leaseDetails(name), uid },
    });
  });

  it('DELETE with a body that is not JSON answers 400', async () => {
    const c = suite();
    const name = uniqueLeaseName('delete-body');
    await c.create(name);
    assertStatus(
      await c.request('DELETE', c.path(name), { body: '{"preconditions":' }),
      failureStatus(400, 'BadRequest', "couldn't get version/kind; json parse error: unexpected end of JSON input"),
    );
    assertStatus(
      await c.request('DELETE', c.path(name), { body: 'xx' }),
      failureStatus(400, 'BadRequest', "couldn't get version/kind; json parse error: invalid character 'x' looking for beginning of value"),
    );
  });

  it('DELETE preconditions of the wrong type answer 400 naming the Go field', async () => {
    const c = suite();
    const name = uniqueLeaseName('delete-types');
    await c.create(name);
    const cases: [unknown, string][] = [
      [{ preconditions: 5 }, 'json: cannot unmarshal number into Go struct field DeleteOptions.preconditions of type v1.Preconditions'],
      [{ preconditions: { uid: 5 } }, 'json: cannot unmarshal number into Go struct field Preconditions.preconditions.uid of type types.UID'],
      [{ preconditions: { resourceVersion: true } }, 'json: cannot unmarshal bool into Go struct field Preconditions.preconditions.resourceVersion of type string'],
      [
        [],
        'couldn\'t get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }',
      ],
    ];
    for (const [body, message] of cases) {
      assertStatus(await c.request('DELETE', c.path(name), { body }), failureStatus(400, 'BadRequest', message));
    }
    assert.equal((await c.request('GET', c.path(name))).status, 200);
  });

  it('paths and methods the API does not serve answer 404 and 405 with empty details', async () => {
    const c = suite();
    const name = uniqueLeaseName('routes');
    await c.create(name);
    const notFound = failureStatus(404, 'NotFound', 'the server could not find the requested resource', {});
    const notAllowed = failureStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
    assertStatus(await c.request('GET', `${c.path(name)}/status`), notFound);
    assertStatus(await c.request('GET', '/apis/coordination.k8s.io/v1/no-such-resource'), notFound);
    assertStatus(await c.request('POST', c.path(name), { body: { metadata: { name } } }), notAllowed);
    assertStatus(await c.request('PUT', c.path(), { body: { metadata: { name } } }), notAllowed);
    // Outside the API: Go's plain-text 404.
    const outside = await c.request('GET', '/no-such-path');
    assert.equal(outside.status, 404);
    assert.equal(outside.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(outside.headers['x-content-type-options'], 'nosniff');
    assert.equal(outside.text, '404 page not found\n');
  });

  it('unknown fields are dropped with a Warning header each', async () => {
    const c = suite();
    const name = uniqueLeaseName('unknown-fields');
    const answer = await c.request('POST', c.path(), { body: { metadata: { name, color: 'red' }, spec: { holderIdentity: 'a', size: 2 }, extra: true } });
    assert.equal(answer.status, 201, answer.text);
    assert.equal(answer.headers['warning'], [
      '299 - "unknown field \\"metadata.color\\""',
      '299 - "unknown field \\"spec.size\\""',
      '299 - "unknown field \\"extra\\""',
    ].join(', '));
    assert.deepEqual(answer.json<{ spec: unknown }>().spec, { holderIdentity: 'a' });
  });
}

/** The 409 a PUT gets when its metadata.uid names no stored lease (a storage precondition, checked first). */
function uidPreconditionConflict(namespace: string, name: string, uid: string | undefined): Record<string, unknown> {
  return failureStatus(
    409,
    'Conflict',
    `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": StorageError: invalid object, Code: 4, ` +
      `Key: /registry/leases/${namespace}/${name}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: ` +
      `UID in precondition: ${uid ?? ''}, UID in object meta: `,
    leaseDetails(name),
  );
}
