// Turning a request body into a Lease the way the API server's JSON decoder
// does: case-sensitive field names, Go's type errors, MicroTime parsed strictly,
// unknown fields dropped with a warning (the default fieldValidation=Warn).

import {
  isJsonObject,
  jsonKind,
  type JsonObject,
  type JsonValue,
} from './go-format.js';
import { goJsonSyntaxError } from './go-json-scanner.js';
import type { LeaseSpecFields } from './lease-object.js';
import { formatMicroTime, parseGoTime } from './micro-time.js';
import { badRequest, LEASE_API_VERSION, LEASE_GROUP, StatusError } from './status.js';

/** `metadata` as a client sent it: only the fields the server reads. */
export interface DecodedMetadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: JsonObject[];
  finalizers?: string[];
}

/** A decoded Lease body. */
export interface DecodedLease {
  readonly apiVersion: string;
  readonly metadata: DecodedMetadata;
  readonly spec: LeaseSpecFields;
}

/** The outcome of decoding: the Lease and its warnings, or Go's error text. */
export type DecodeOutcome =
  | { readonly ok: true; readonly lease: DecodedLease; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly message: string };

type FieldType = 'string' | 'int32' | 'int64' | 'microTime' | 'time' | 'stringMap' | 'stringList' | 'objectList';

interface FieldSpec {
  readonly type: FieldType;
  readonly goType: string;
  /** Whether the server keeps the field (the rest is decoded, then dropped). */
  readonly keep: boolean;
}

const METADATA_FIELDS: Record<string, FieldSpec> = {
  name: { type: 'string', goType: 'string', keep: true },
  generateName: { type: 'string', goType: 'string', keep: true },
  namespace: { type: 'string', goType: 'string', keep: true },
  selfLink: { type: 'string', goType: 'string', keep: false },
  uid: { type: 'string', goType: 'types.UID', keep: true },
  resourceVersion: { type: 'string', goType: 'string', keep: true },
  generation: { type: 'int64', goType: 'int64', keep: true },
  creationTimestamp: { type: 'time', goType: 'v1.Time', keep: false },
  deletionTimestamp: { type: 'time', goType: 'v1.Time', keep: false },
  deletionGracePeriodSeconds: { type: 'int64', goType: 'int64', keep: false },
  labels: { type: 'stringMap', goType: 'map[string]string', keep: true },
  annotations: { type: 'stringMap', goType: 'map[string]string', keep: true },
  ownerReferences: { type: 'objectList', goType: 'v1.OwnerReference', keep: true },
  finalizers: { type: 'stringList', goType: '[]string', keep: true },
  managedFields: { type: 'objectList', goType: 'v1.ManagedFieldsEntry', keep: false },
};

const SPEC_FIELDS: Record<string, FieldSpec> = {
  holderIdentity: { type: 'string', goType: 'string', keep: true },
  leaseDurationSeconds: { type: 'int32', goType: 'int32', keep: true },
  acquireTime: { type: 'microTime', goType: 'v1.MicroTime', keep: true },
  renewTime: { type: 'microTime', goType: 'v1.MicroTime', keep: true },
  leaseTransitions: { type: 'int32', goType: 'int32', keep: true },
  strategy: { type: 'string', goType: 'v1.CoordinatedLeaseStrategy', keep: true },
  preferredHolder: { type: 'string', goType: 'string', keep: true },
};

/** An error that stops decoding at once (a custom UnmarshalJSON failed). */
class AbortDecode extends Error {}

/** Collects what Go's decoder would report while walking one document. */
class Walk {
  readonly warnings: string[] = [];
  firstTypeError: string | undefined;

  typeError(value: unknown, struct: string, path: string, goType: string): void {
    this.firstTypeError ??= `json: cannot unmarshal ${valueLabel(value, goType)} into Go struct field ${struct}.${path} of type ${goType}`;
  }
}

function valueLabel(value: unknown, goType: string): string {
  // An integer field given a fraction or an overflow names the literal.
  if (typeof value === 'number' && (goType === 'int32' || goType === 'int64')) return `number ${String(value)}`;
  return jsonKind(value);
}

/** Decodes a parsed JSON document into a Lease (what the patch path does). */
export function decodeLease(document: JsonValue): DecodeOutcome {
  const walk = new Walk();
  const root: JsonObject = isJsonObject(document) ? document : {};
  const metadata: DecodedMetadata = {};
  let spec: LeaseSpecFields = {};
  try {
    for (const [key, value] of Object.entries(root)) {
      if (key === 'apiVersion' || key === 'kind') continue;
      if (key === 'metadata') decodeMetadata(value, metadata, walk);
      else if (key === 'spec') spec = decodeSpec(value, walk);
      else walk.warnings.push(`unknown field ${JSON.stringify(key)}`);
    }
  } catch (error) {
    if (error instanceof AbortDecode) return { ok: false, message: error.message };
    throw error;
  }
  if (walk.firstTypeError !== undefined) return { ok: false, message: walk.firstTypeError };
  const apiVersion = typeof root['apiVersion'] === 'string' ? root['apiVersion'] : '';
  return { ok: true, lease: { apiVersion, metadata, spec }, warnings: walk.warnings };
}

function decodeMetadata(value: JsonValue, into: DecodedMetadata, walk: Walk): void {
  if (value === null) return;
  if (!isJsonObject(value)) {
    walk.typeError(value, 'Lease', 'metadata', 'v1.ObjectMeta');
    return;
  }
  for (const [key, field] of Object.entries(value)) {
    const spec = METADATA_FIELDS[key];
    if (spec === undefined) {
      walk.warnings.push(`unknown field ${JSON.stringify(`metadata.${key}`)}`);
      continue;
    }
    const decoded = decodeField(field, spec, 'ObjectMeta', `metadata.${key}`, walk);
    if (decoded !== undefined && spec.keep) (into as Record<string, unknown>)[key] = decoded;
  }
}

function decodeSpec(value: JsonValue, walk: Walk): LeaseSpecFields {
  const spec: Record<string, unknown> = {};
  if (value === null) return spec;
  if (!isJsonObject(value)) {
    walk.typeError(value, 'Lease', 'spec', 'v1.LeaseSpec');
    return spec;
  }
  for (const [key, field] of Object.entries(value)) {
    const fieldSpec = SPEC_FIELDS[key];
    if (fieldSpec === undefined) {
      walk.warnings.push(`unknown field ${JSON.stringify(`spec.${key}`)}`);
      continue;
    }
    const decoded = decodeField(field, fieldSpec, 'LeaseSpec', `spec.${key}`, walk);
    if (decoded !== undefined) spec[key] = decoded;
  }
  return spec;
}

function decodeField(value: JsonValue, spec: FieldSpec, struct: string, path: string, walk: Walk): unknown {
  // null leaves a Go field at its zero value: for these fields, "not set".
  if (value === null) return undefined;
  switch (spec.type) {
    case 'string':
      if (typeof value === 'string') return value;
      walk.typeError(value, struct, path, spec.goType);
      return undefined;
    case 'int32':
    case 'int64': {
      const limit = spec.type === 'int32' ? 2 ** 31 : 2 ** 63;
      if (typeof value === 'number' && Number.isInteger(value) && value >= -limit && value < limit) return value;
      walk.typeError(value, struct, path, spec.goType);
      return undefined;
    }
    case 'microTime':
    case 'time':
      return decodeTime(value, spec.type === 'microTime');
    case 'stringMap':
      return decodeStringMap(value, struct, path, walk);
    case 'stringList':
      return decodeList(value, struct, path, walk, (item) => typeof item === 'string', 'string');
    case 'objectList':
      return decodeList(value, struct, path, walk, isJsonObject, spec.goType, `[]${spec.goType}`);
  }
}

function decodeTime(value: JsonValue, micro: boolean): string {
  // MicroTime and Time decode themselves: a wrong type or bad text ends decoding.
  if (typeof value !== 'string') {
    throw new AbortDecode(`json: cannot unmarshal ${jsonKind(value)} into Go value of type string`);
  }
  const parsed = parseGoTime(value, micro ? 'micro' : 'seconds');
  if (!parsed.ok) throw new AbortDecode(parsed.message);
  return formatMicroTime(parsed);
}

function decodeStringMap(value: JsonValue, struct: string, path: string, walk: Walk): Record<string, string> | undefined {
  if (!isJsonObject(value)) {
    walk.typeError(value, struct, path, 'map[string]string');
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === 'string') out[key] = item;
    else if (item !== null) walk.typeError(item, struct, path, 'string');
    else out[key] = '';
  }
  return out;
}

function decodeList<T>(
  value: JsonValue,
  struct: string,
  path: string,
  walk: Walk,
  accepts: (item: JsonValue) => item is T & JsonValue,
  itemType: string,
  listType = `[]${itemType}`,
): T[] | undefined {
  if (!Array.isArray(value)) {
    walk.typeError(value, struct, path, listType);
    return undefined;
  }
  const out: T[] = [];
  for (const item of value) {
    if (accepts(item)) out.push(item);
    else if (item !== null) walk.typeError(item, struct, path, itemType);
  }
  return out;
}

/** The version/kind a body names, filled in from the endpoint's defaults. */
interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

const MAX_SUMMARY = 30;

/** Versions of coordination.k8s.io that know the Lease kind. */
const LEASE_VERSIONS = new Set(['v1', 'v1beta1']);

function cannotHandle(gvk: GroupVersionKind, reason: string): StatusError {
  return new StatusError(
    badRequest(`${gvk.kind} in version ${JSON.stringify(gvk.version)} cannot be handled as a Lease: ${reason}`),
  );
}

/**
 * Decodes a create or update body, throwing the 400 the server answers for a
 * body it cannot read (`... cannot be handled as a Lease: ...`).
 */
export function decodeLeaseBody(text: string): { lease: DecodedLease; warnings: readonly string[] } {
  const sniffError = versionKindError(text);
  if (sniffError !== undefined) throw unrecognized(`couldn't get version/kind; json parse error: ${sniffError}`, text);
  const document = JSON.parse(text) as JsonValue;
  const gvk = interpretKind(document, text);
  if (gvk.kind !== 'Lease' || gvk.group !== LEASE_GROUP || !LEASE_VERSIONS.has(gvk.version)) {
    throw cannotHandle(
      gvk,
      `no kind ${JSON.stringify(gvk.kind)} is registered for version ${JSON.stringify(joinGroupVersion(gvk))} in scheme "pkg/api/legacyscheme/scheme.go:30"`,
    );
  }
  const decoded = decodeLease(document);
  if (!decoded.ok) throw cannotHandle(gvk, decoded.message);
  const apiVersion = joinGroupVersion(gvk);
  if (apiVersion !== LEASE_API_VERSION) {
    throw new StatusError(
      badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${LEASE_API_VERSION})`),
    );
  }
  return { lease: decoded.lease, warnings: decoded.warnings };
}

/**
 * Why the server's first look at a body (encoding/json into `{apiVersion, kind}`)
 * fails: Go's syntax or type error; undefined when the body passes.
 */
export function versionKindError(text: string): string | undefined {
  const syntaxError = goJsonSyntaxError(text);
  if (syntaxError !== undefined) return syntaxError;
  const document = JSON.parse(text) as JsonValue;
  if (document !== null && !isJsonObject(document)) {
    return `json: cannot unmarshal ${jsonKind(document)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`;
  }
  const root = isJsonObject(document) ? document : {};
  for (const key of ['apiVersion', 'kind'] as const) {
    const value = root[key];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      return `json: cannot unmarshal ${jsonKind(value)} into Go struct field .${key} of type string`;
    }
  }
  return undefined;
}

function interpretKind(document: JsonValue, text: string): GroupVersionKind {
  const root = isJsonObject(document) ? document : {};
  const apiVersion = typeof root['apiVersion'] === 'string' ? root['apiVersion'] : '';
  const kind = typeof root['kind'] === 'string' ? root['kind'] : '';
  const parts = apiVersion === '' ? [] : apiVersion.split('/');
  if (parts.length > 2) throw unrecognized(`unexpected GroupVersion string: ${apiVersion}`, text);
  let group = parts.length === 2 ? (parts[0] ?? '') : '';
  let version = parts.length === 2 ? (parts[1] ?? '') : (parts[0] ?? '');
  // gvkWithDefaults: an absent group/version takes the endpoint's.
  if (version === '' && group === '') {
    group = LEASE_GROUP;
    version = 'v1';
  }
  if (version === '' && group === LEASE_GROUP) version = 'v1';
  return { group, version, kind: kind === '' ? 'Lease' : kind };
}

function joinGroupVersion(gvk: GroupVersionKind): string {
  return gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
}

function unrecognized(reason: string, text: string): StatusError {
  return new StatusError(badRequest(`the object provided is unrecognized (must be of type Lease): ${reason} (${summarize(text)})`));
}

/** The server's summary of a body it could not read: its start, as text or hex. */
function summarize(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return '<empty>';
  const head = bytes.subarray(0, MAX_SUMMARY);
  const more = bytes.length > MAX_SUMMARY ? ' ...' : '';
  return bytes[0] === 0x7b ? `${head.toString('utf8')}${more}` : `${head.toString('hex')}${more}`;
}
