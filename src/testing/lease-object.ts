// The Lease as the server stores and serves it: field order as Go encodes the
// struct (kind before apiVersion), empty maps and lists left out as `omitempty`
// does, so a response body reads like a real server's.

import type { JsonObject } from './go-format.js';
import { LEASE_API_VERSION } from './status.js';

/** `spec` of a Lease. MicroTimes are strings with six fractional digits. */
export interface LeaseSpecFields {
  /** The identity of the holder; empty or absent when nobody holds the lease. */
  holderIdentity?: string;
  /** How long, in whole seconds, contenders wait after the last renewal before they may take the lease. */
  leaseDurationSeconds?: number;
  /** When the current holder acquired the lease. */
  acquireTime?: string;
  /** When the holder last renewed the lease. */
  renewTime?: string;
  /** How many times the lease changed holders. */
  leaseTransitions?: number;
  /** The coordinated leader election strategy; kept only with the `coordinatedLeaderElection` option. */
  strategy?: string;
  /** The holder the coordinated leader election asks for; requires `strategy`, kept only with `coordinatedLeaderElection`. */
  preferredHolder?: string;
}

/** One `metadata.managedFields[]` entry. */
export interface ManagedFieldsEntry {
  /** The field manager that owns these fields. */
  manager: string;
  /** The kind of write that set them: always `Update` (create, update and patch). */
  operation: 'Update';
  /** The API version the fields were written in. */
  apiVersion: string;
  /** When this manager last changed its fields (RFC 3339, whole seconds). */
  time: string;
  /** The format of `fieldsV1`. */
  fieldsType: 'FieldsV1';
  /** The set of fields this manager owns, in the FieldsV1 format. */
  fieldsV1: JsonObject;
}

/** `metadata` of a stored Lease. */
export interface LeaseMetadata {
  /** The Lease's name, unique in its namespace. */
  name: string;
  /** The prefix the name was generated from, when the Lease was created with `generateName`. */
  generateName?: string;
  /** The namespace the Lease lives in. */
  namespace: string;
  /** Unique to this object: a Lease deleted and created again under the same name gets a new one. */
  uid: string;
  /** The opaque version of the stored object; every write changes it, and a conditional write names it. */
  resourceVersion: string;
  /** `metadata.generation`, when set. */
  generation?: number;
  /** When the Lease was created (RFC 3339, whole seconds). */
  creationTimestamp: string;
  /** Labels, as written. */
  labels?: Record<string, string>;
  /** Annotations, as written. */
  annotations?: Record<string, string>;
  /** Owner references, as written. */
  ownerReferences?: JsonObject[];
  /** Finalizers, as written. */
  finalizers?: string[];
  /** Which field manager owns which fields. */
  managedFields?: ManagedFieldsEntry[];
}

/** A Lease exactly as the emulator serves it over the wire. */
export interface LeaseObject {
  /** Always `Lease`. */
  kind: 'Lease';
  /** Always `coordination.k8s.io/v1`. */
  apiVersion: 'coordination.k8s.io/v1';
  /** The object's metadata. */
  metadata: LeaseMetadata;
  /** The lease record. */
  spec: LeaseSpecFields;
}

/** Everything of a Lease the server keeps, before resourceVersion and managedFields are added. */
export interface LeaseDraft {
  readonly name: string;
  readonly generateName?: string | undefined;
  readonly namespace: string;
  readonly uid: string;
  readonly generation?: number | undefined;
  readonly creationTimestamp: string;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  readonly ownerReferences?: readonly JsonObject[] | undefined;
  readonly finalizers?: readonly string[] | undefined;
  readonly spec: Readonly<LeaseSpecFields>;
}

/**
 * Builds the served form of a draft, key by key so the JSON reads in Go's field
 * order. An empty `resourceVersion` is left out (a dry-run create has none).
 */
export function buildLease(draft: LeaseDraft, resourceVersion: string, managedFields?: readonly ManagedFieldsEntry[]): LeaseObject {
  const metadata: Record<string, unknown> = { name: draft.name };
  if (draft.generateName) metadata['generateName'] = draft.generateName;
  metadata['namespace'] = draft.namespace;
  metadata['uid'] = draft.uid;
  if (resourceVersion !== '') metadata['resourceVersion'] = resourceVersion;
  if (draft.generation) metadata['generation'] = draft.generation;
  metadata['creationTimestamp'] = draft.creationTimestamp;
  if (draft.labels && Object.keys(draft.labels).length > 0) metadata['labels'] = { ...draft.labels };
  if (draft.annotations && Object.keys(draft.annotations).length > 0) metadata['annotations'] = { ...draft.annotations };
  if (draft.ownerReferences && draft.ownerReferences.length > 0) metadata['ownerReferences'] = structuredClone(draft.ownerReferences);
  if (draft.finalizers && draft.finalizers.length > 0) metadata['finalizers'] = [...draft.finalizers];
  if (managedFields && managedFields.length > 0) metadata['managedFields'] = structuredClone(managedFields);
  return {
    kind: 'Lease',
    apiVersion: LEASE_API_VERSION,
    metadata: metadata as unknown as LeaseMetadata,
    spec: orderedSpec(draft.spec),
  };
}

/** The spec with its keys in Go's order and absent fields left out. */
export function orderedSpec(spec: Readonly<LeaseSpecFields>): LeaseSpecFields {
  const out: LeaseSpecFields = {};
  if (spec.holderIdentity !== undefined) out.holderIdentity = spec.holderIdentity;
  if (spec.leaseDurationSeconds !== undefined) out.leaseDurationSeconds = spec.leaseDurationSeconds;
  if (spec.acquireTime !== undefined) out.acquireTime = spec.acquireTime;
  if (spec.renewTime !== undefined) out.renewTime = spec.renewTime;
  if (spec.leaseTransitions !== undefined) out.leaseTransitions = spec.leaseTransitions;
  if (spec.strategy !== undefined) out.strategy = spec.strategy;
  if (spec.preferredHolder !== undefined) out.preferredHolder = spec.preferredHolder;
  return out;
}

/**
 * The spec as the server keeps it: `strategy` and `preferredHolder` belong to
 * the CoordinatedLeaderElection feature, off by default, and a server with the
 * feature off drops them (before validation) from every write.
 */
export function keptSpec(spec: Readonly<LeaseSpecFields>, coordinatedLeaderElection: boolean): LeaseSpecFields {
  const kept = { ...spec };
  if (!coordinatedLeaderElection) {
    delete kept.strategy;
    delete kept.preferredHolder;
  }
  return kept;
}

/** The draft a stored Lease came from (what a later write starts from). */
export function draftOf(lease: LeaseObject): LeaseDraft {
  const meta = lease.metadata;
  return {
    name: meta.name,
    generateName: meta.generateName,
    namespace: meta.namespace,
    uid: meta.uid,
    generation: meta.generation,
    creationTimestamp: meta.creationTimestamp,
    labels: meta.labels,
    annotations: meta.annotations,
    ownerReferences: meta.ownerReferences,
    finalizers: meta.finalizers,
    spec: lease.spec,
  };
}
