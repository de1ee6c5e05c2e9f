// What the API server does for each lease request, in the order it does it:
// decode, name checks, admission (namespace exists), optimistic concurrency,
// validation, storage. Each check that fails first decides the answer, so the
// order here is part of the behaviour.

import { forbiddenReason, type Identity, type LeaseVerb } from './auth.js';
import { goQuote, goSprint, isJsonObject, jsonKind, type JsonValue } from './go-format.js';
import { goJsonSyntaxError } from './go-json-scanner.js';
import { decodeLease, decodeLeaseBody, versionKindError, type DecodedLease, type DecodedMetadata } from './lease-codec.js';
import { draftOf, keptSpec, type LeaseDraft, type LeaseObject } from './lease-object.js';
import { newSystemFields, type LeaseStore } from './lease-store.js';
import { managedFieldsOnCreate, managedFieldsOnUpdate, type TrackedFields } from './managed-fields.js';
import { applyJsonPatch, mergePatch, PatchApplyError, strategicMergePatch, type JsonPatchOperation } from './patch.js';
import { jsonPatchTouched, mergePatchTouched, patchedJson } from './patched-json.js';
import { parseFieldSelector, parseLabelSelector, SelectorError, type LeaseMatcher } from './selectors.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  deleted,
  forbidden,
  internalError,
  LEASE_API_VERSION,
  LEASE_GROUP,
  LEASE_RESOURCE,
  leaseNotFound,
  namespaceNotFound,
  patchRejected,
  QUALIFIED_LEASE_KIND,
  QUALIFIED_LEASES,
  staleConflict,
  StatusError,
  unsupportedMediaType,
} from './status.js';
import { invalid, validateLeaseCreate, validateLeaseUpdate, type FieldError } from './validation.js';

/** One lease request, routed and authenticated. */
export interface LeaseRequest {
  /** Namespace of the path; empty for the cluster-wide collection. */
  readonly namespace: string;
  /** Lease name of the path; empty for the collection. */
  readonly name: string;
  readonly query: URLSearchParams;
  readonly body: string;
  /** Media type of the body, without parameters. */
  readonly contentType: string;
  /** The field manager recorded in managedFields. */
  readonly manager: string;
  readonly identity: Identity;
  /** Whether the identity may perform `verb` here (create-on-update asks for "create"). */
  readonly allows: (verb: LeaseVerb) => boolean;
}

/** What handlers read and write. */
export interface LeaseEnvironment {
  readonly store: LeaseStore;
  readonly hasNamespace: (namespace: string) => boolean;
  /** Whether spec.strategy and spec.preferredHolder are kept (the feature gate). */
  readonly coordinatedLeaderElection: boolean;
}

/** A successful answer. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly warnings?: readonly string[];
}

const BODY_MEDIA_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const PATCH_MEDIA_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

/** GET of one lease. */
export function getLease(env: LeaseEnvironment, request: LeaseRequest): Reply {
  const lease = env.store.get(request.namespace, request.name);
  if (lease === undefined) throw new StatusError(leaseNotFound(request.name));
  return { status: 200, body: lease };
}

/** GET of the collection (a namespace's leases, or every namespace's). */
export function listLeases(env: LeaseEnvironment, request: LeaseRequest): Reply {
  listRevision(request.query);
  const matches = selectorsOf(request.query);
  const items = env.store.list(request.namespace || undefined).filter(matches);
  return { status: 200, body: leaseList(String(env.store.revision), items) };
}

/** POST: create. */
export function createLease(env: LeaseEnvironment, request: LeaseRequest): Reply {
  requireBodyMediaType(request.contentType);
  const { lease, warnings } = decodeLeaseBody(request.body);
  const meta = lease.metadata;
  // The create handler wipes system fields, then insists the body's namespace is the URL's.
  if (meta.namespace && meta.namespace !== request.namespace) {
    throw new StatusError(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
  }
  if (!env.hasNamespace(request.namespace)) throw new StatusError(namespaceNotFound(request.namespace));
  const name = meta.name || (meta.generateName ? generatedName(meta.generateName) : '');
  const draft = draftFrom(env, lease, name, request.namespace, newSystemFields());
  const errors = validateLeaseCreate(draft, draft.spec);
  if (errors.length > 0) throw invalidLease(name, errors);
  const resourceVersion = parseResourceVersion(meta.resourceVersion ?? '');
  if (resourceVersion !== 'invalid' && resourceVersion !== 0n) {
    throw new StatusError(internalError('resourceVersion should not be set on objects to be created'));
  }
  if (env.store.get(request.namespace, name) !== undefined) throw new StatusError(alreadyExists(name));
  const object = env.store.create(draft, managedFieldsOnCreate(tracked(lease), request.manager), isDryRun(request.query));
  return { status: 201, body: object, warnings };
}

/** PUT: replace, or create when the lease does not exist (leases allow create-on-update). */
export function replaceLease(env: LeaseEnvironment, request: LeaseRequest): Reply {
  requireBodyMediaType(request.contentType);
  const { lease, warnings } = decodeLeaseBody(request.body);
  checkName(lease.metadata, request);
  const existing = env.store.get(request.namespace, request.name);
  checkUidPrecondition(lease.metadata.uid ?? '', existing, request);
  // The store parses the resourceVersion before it knows whether it creates.
  requireParsableResourceVersion(lease);
  if (existing === undefined) return createOnUpdate(env, request, lease, warnings);
  return updateExisting(env, request, existing, lease, warnings);
}

/**
 * A PUT body's uid is a storage precondition (defaultUpdatedObjectInfo), checked
 * before anything else: a PUT carrying the uid of a deleted lease fails rather
 * than recreating it, and one carrying another object's uid fails too.
 */
function checkUidPrecondition(uid: string, existing: LeaseObject | undefined, request: LeaseRequest): void {
  const stored = existing?.metadata.uid ?? '';
  if (uid === '' || uid === stored) return;
  const key = `/registry/leases/${request.namespace}/${request.name}`;
  throw new StatusError(
    conflict(
      QUALIFIED_LEASES,
      LEASE_RESOURCE,
      request.name,
      `StorageError: invalid object, Code: 4, Key: ${key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${uid}, UID in object meta: ${stored}`,
    ),
  );
}

function createOnUpdate(env: LeaseEnvironment, request: LeaseRequest, lease: DecodedLease, warnings: readonly string[]): Reply {
  if (!env.hasNamespace(request.namespace)) throw new StatusError(namespaceNotFound(request.namespace));
  // The resourceVersion a client sent is dropped: a PUT carrying a stale one (but
  // no uid) to a deleted lease recreates it.
  const draft = draftFrom(env, lease, request.name, request.namespace, newSystemFields());
  const errors = validateLeaseCreate(draft, draft.spec);
  if (errors.length > 0) throw invalidLease(request.name, errors);
  // The update was authorized as "update"; creating needs "create" too, which
  // the handler asks the authorizer after validation.
  if (!request.allows('create')) throw forbiddenFor(request.identity, 'create', request.namespace, request.name);
  const object = env.store.create(draft, managedFieldsOnCreate(tracked(lease), request.manager), isDryRun(request.query));
  return { status: 201, body: object, warnings };
}

function updateExisting(
  env: LeaseEnvironment,
  request: LeaseRequest,
  existing: LeaseObject,
  lease: DecodedLease,
  warnings: readonly string[],
): Reply {
  const resourceVersion = requireParsableResourceVersion(lease);
  if (resourceVersion === 0n) {
    // Leases do not allow unconditional updates. The generic store reports it
    // against the resource.
    throw new StatusError(
      invalid(QUALIFIED_LEASES, LEASE_GROUP, LEASE_RESOURCE, request.name, [
        { type: 'FieldValueInvalid', field: 'metadata.resourceVersion', value: '0', detail: 'must be specified for an update' },
      ]),
    );
  }
  if (resourceVersion !== BigInt(existing.metadata.resourceVersion)) throw new StatusError(staleConflict(request.name));
  const old = draftOf(existing);
  // BeforeUpdate: an empty uid means "the stored one"; creationTimestamp and
  // generation are always the stored ones, whatever the client sent.
  const draft: LeaseDraft = {
    ...draftFrom(env, lease, old.name, old.namespace, { uid: lease.metadata.uid || old.uid, creationTimestamp: old.creationTimestamp }),
    generation: old.generation,
  };
  const errors = validateLeaseUpdate(draft, old, draft.spec);
  if (errors.length > 0) throw invalidLease(request.name, errors);
  const managedFields = managedFieldsOnUpdate(existing, tracked(lease), request.manager);
  const result = env.store.update(draft, managedFields, isDryRun(request.query));
  return { status: 200, body: result.object, warnings };
}

/** PATCH (JSON patch, merge patch, strategic merge patch). */
export function patchLease(env: LeaseEnvironment, request: LeaseRequest): Reply {
  const patchType = request.contentType;
  if (!PATCH_MEDIA_TYPES.includes(patchType) || patchType === 'application/apply-patch+yaml') {
    // Server-side apply is not emulated: answered as a media type the server does not take.
    throw new StatusError(unsupportedMediaType(PATCH_MEDIA_TYPES));
  }
  // The body must be JSON before anything else is looked at.
  if (goJsonSyntaxError(request.body) !== undefined) throw new StatusError(badRequest('invalid JSON patch'));
  // A patch never creates a lease: without one there is nothing to patch.
  const existing = env.store.get(request.namespace, request.name);
  if (existing === undefined) throw new StatusError(leaseNotFound(request.name));
  const patch = JSON.parse(request.body) as JsonValue;
  const current = JSON.parse(JSON.stringify(existing)) as JsonValue;
  let patched: JsonValue;
  let shownValue: () => string;
  if (patchType === 'application/json-patch+json') {
    const operations = decodeJsonPatch(patch);
    patched = applyOperations(current, operations);
    const pointers = operations.flatMap((operation) => (operation.from ? [operation.path, operation.from] : [operation.path]));
    shownValue = () => goQuote(patchedJson(patched, jsonPatchTouched(pointers)));
  } else {
    if (!isJsonObject(patch)) {
      throw new StatusError(
        badRequest(`error decoding patch: json: cannot unmarshal ${jsonKind(patch)} into Go value of type map[string]interface {}`),
      );
    }
    const strategic = patchType === 'application/strategic-merge-patch+json';
    patched = strategic ? (strategicMergePatch(current, patch) ?? {}) : mergePatch(current, patch);
    // The strategic path shows the patch map; the others the patched object.
    shownValue = strategic ? () => goQuote(goSprint(patch)) : () => goQuote(patchedJson(patched, mergePatchTouched(current, patch)));
  }
  const decoded = decodeLease(patched);
  if (!decoded.ok) {
    throw new StatusError(
      invalid('', '', '', '', [{ type: 'FieldValueInvalid', field: 'patch', value: shownValue(), detail: decoded.message }]),
    );
  }
  checkName(decoded.lease.metadata, request);
  return updateExisting(env, request, existing, decoded.lease, decoded.warnings);
}

function applyOperations(document: JsonValue, operations: JsonPatchOperation[]): JsonValue {
  try {
    return applyJsonPatch(document, operations);
  } catch (error) {
    if (error instanceof PatchApplyError) throw new StatusError(patchRejected());
    throw error;
  }
}

function decodeJsonPatch(patch: JsonValue): JsonPatchOperation[] {
  const decodeError = (message: string): StatusError => new StatusError(badRequest(`error decoding patch: ${message}`));
  if (!Array.isArray(patch)) {
    throw decodeError(`json: cannot unmarshal ${jsonKind(patch)} into Go value of type []handlers.jsonPatchOp`);
  }
  return patch.map((item) => {
    if (!isJsonObject(item)) {
      throw decodeError(`json: cannot unmarshal ${jsonKind(item)} into Go value of type handlers.jsonPatchOp`);
    }
    const text = (field: 'op' | 'path' | 'from'): string => {
      const value = item[field];
      if (value === undefined || value === null) return '';
      if (typeof value !== 'string') {
        throw decodeError(`json: cannot unmarshal ${jsonKind(value)} into Go struct field jsonPatchOp.${field} of type string`);
      }
      return value;
    };
    const operation: JsonPatchOperation = { op: text('op'), path: text('path'), from: text('from'), hasValue: 'value' in item };
    return item['value'] === undefined ? operation : { ...operation, value: item['value'] };
  });
}

/** DELETE of one lease, honouring `preconditions` in the DeleteOptions body. */
export function deleteLease(env: LeaseEnvironment, request: LeaseRequest): Reply {
  const preconditions = deletePreconditions(request.body);
  const existing = env.store.get(request.namespace, request.name);
  if (existing === undefined) throw new StatusError(leaseNotFound(request.name));
  const { uid, resourceVersion } = existing.metadata;
  // rest.BeforeDelete checks these and names the kind, not the resource.
  if (preconditions.uid !== undefined && preconditions.uid !== uid) {
    throw new StatusError(
      conflict(
        QUALIFIED_LEASE_KIND,
        'Lease',
        request.name,
        `the UID in the precondition (${preconditions.uid}) does not match the UID in record (${uid}). The object might have been deleted and then recreated`,
      ),
    );
  }
  if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== resourceVersion) {
    throw new StatusError(
      conflict(
        QUALIFIED_LEASE_KIND,
        'Lease',
        request.name,
        `the ResourceVersion in the precondition (${preconditions.resourceVersion}) does not match the ResourceVersion in record (${resourceVersion}). The object might have been modified`,
      ),
    );
  }
  env.store.delete(request.namespace, request.name, isDryRun(request.query));
  return { status: 200, body: deleted(request.name, uid) };
}

/** DELETE of the collection: every selected lease; answers the list as it was. */
export function deleteLeaseCollection(env: LeaseEnvironment, request: LeaseRequest): Reply {
  const matches = selectorsOf(request.query);
  const revision = String(env.store.revision);
  const items = env.store.list(request.namespace).filter(matches);
  for (const lease of items) env.store.delete(lease.metadata.namespace, lease.metadata.name, isDryRun(request.query));
  return { status: 200, body: leaseList(revision, items) };
}

/** The preconditions of a DeleteOptions body, decoded as the server decodes it (400 when it cannot). */
function deletePreconditions(body: string): { uid?: string; resourceVersion?: string } {
  if (body === '') return {};
  const sniffError = versionKindError(body);
  if (sniffError !== undefined) throw new StatusError(badRequest(`couldn't get version/kind; json parse error: ${sniffError}`));
  const options = JSON.parse(body) as JsonValue;
  const preconditions = isJsonObject(options) ? options['preconditions'] : undefined;
  if (preconditions === undefined || preconditions === null) return {};
  const typeError = (kind: unknown, field: string, goType: string): StatusError =>
    new StatusError(badRequest(`json: cannot unmarshal ${jsonKind(kind)} into Go struct field ${field} of type ${goType}`));
  if (!isJsonObject(preconditions)) throw typeError(preconditions, 'DeleteOptions.preconditions', 'v1.Preconditions');
  const out: { uid?: string; resourceVersion?: string } = {};
  for (const [key, goType] of [['uid', 'types.UID'], ['resourceVersion', 'string']] as const) {
    const value = preconditions[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw typeError(value, `Preconditions.preconditions.${key}`, goType);
    out[key] = value;
  }
  return out;
}

/**
 * The resourceVersion a list asks for, as a revision (0n for "any"); 400 when
 * it is not a number.
 */
export function listRevision(query: URLSearchParams): bigint {
  const text = query.get('resourceVersion') ?? '';
  const error = resourceVersionError(text);
  if (error !== undefined) throw new StatusError(badRequest(`invalid resource version: resourceVersion: Invalid value: ${goQuote(text)}: ${error}`));
  return parseResourceVersion(text) as bigint;
}

/** The matcher of a request's labelSelector and fieldSelector (400 when unreadable). */
export function selectorsOf(query: URLSearchParams): LeaseMatcher {
  try {
    const field = parseFieldSelector(query.get('fieldSelector') ?? '').matcher;
    const label = parseLabelSelector(query.get('labelSelector') ?? '');
    return (lease) => field(lease) && label(lease);
  } catch (error) {
    if (error instanceof SelectorError) throw new StatusError(badRequest(error.message));
    throw error;
  }
}

function leaseList(resourceVersion: string, items: readonly LeaseObject[]): unknown {
  // Items of a built-in list carry no apiVersion/kind.
  return {
    kind: 'LeaseList',
    apiVersion: LEASE_API_VERSION,
    metadata: { resourceVersion },
    items: items.map((lease) => ({ metadata: lease.metadata, spec: lease.spec })),
  };
}

function draftFrom(
  env: LeaseEnvironment,
  lease: DecodedLease,
  name: string,
  namespace: string,
  system: { uid: string; creationTimestamp: string },
): LeaseDraft {
  const meta = lease.metadata;
  return {
    name,
    generateName: meta.generateName,
    namespace,
    uid: system.uid,
    generation: meta.generation,
    creationTimestamp: system.creationTimestamp,
    labels: meta.labels,
    annotations: meta.annotations,
    ownerReferences: meta.ownerReferences,
    finalizers: meta.finalizers,
    spec: keptSpec(lease.spec, env.coordinatedLeaderElection),
  };
}

/** What the field manager looks at: the lease as the client sent it. */
function tracked(lease: DecodedLease): TrackedFields {
  return { ...lease.metadata, spec: lease.spec };
}

function invalidLease(name: string, errors: readonly FieldError[]): StatusError {
  return new StatusError(invalid(QUALIFIED_LEASE_KIND, LEASE_GROUP, 'Lease', name, errors));
}

/** checkName of the update and patch handlers. */
function checkName(meta: DecodedMetadata, request: LeaseRequest): void {
  const name = meta.name ?? '';
  if (name !== request.name) {
    throw new StatusError(badRequest(`the name of the object (${name}) does not match the name on the URL (${request.name})`));
  }
  if (meta.namespace && meta.namespace !== request.namespace) {
    throw new StatusError(
      badRequest(`the namespace of the object (${meta.namespace}) does not match the namespace on the URL (${request.namespace})`),
    );
  }
}

function requireBodyMediaType(contentType: string): void {
  if (contentType !== '' && contentType !== 'application/json') {
    // YAML and protobuf bodies are not emulated.
    throw new StatusError(unsupportedMediaType(BODY_MEDIA_TYPES));
  }
}

const MAX_UINT64 = 2n ** 64n - 1n;

/** strconv.ParseUint(text, 10, 64), with "" and "0" both meaning "not set". */
function parseResourceVersion(text: string): bigint | 'invalid' {
  if (text === '') return 0n;
  if (!/^\d+$/.test(text)) return 'invalid';
  const value = BigInt(text);
  return value > MAX_UINT64 ? 'invalid' : value;
}

/** strconv.ParseUint's error for a resourceVersion that is not a uint64; undefined for one that is (or ""). */
export function resourceVersionError(text: string): string | undefined {
  if (parseResourceVersion(text) !== 'invalid') return undefined;
  const kind = /^\d+$/.test(text) ? 'value out of range' : 'invalid syntax';
  return `strconv.ParseUint: parsing ${goQuote(text)}: ${kind}`;
}

/** The resourceVersion of an update as a number (0n when absent); a 500 when it is not one. */
function requireParsableResourceVersion(lease: DecodedLease): bigint {
  const text = lease.metadata.resourceVersion ?? '';
  const error = resourceVersionError(text);
  if (error !== undefined) throw new StatusError(internalError(error));
  return parseResourceVersion(text) as bigint;
}

function isDryRun(query: URLSearchParams): boolean {
  return query.getAll('dryRun').includes('All');
}

const GENERATED_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** names.SimpleNameGenerator: the prefix (cut to fit) and five random characters. */
function generatedName(prefix: string): string {
  const base = prefix.length > 58 ? prefix.slice(0, 58) : prefix;
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += GENERATED_ALPHABET[Math.floor(Math.random() * GENERATED_ALPHABET.length)] ?? 'x';
  return base + suffix;
}

/** The forbidden answer for a request the identity may not make. */
export function forbiddenFor(identity: Identity, verb: LeaseVerb, namespace: string, name: string): StatusError {
  return new StatusError(forbidden(name, forbiddenReason(identity.name, verb, namespace || undefined)));
}
