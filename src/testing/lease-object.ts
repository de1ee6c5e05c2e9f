// The Lease as the server stores and serves it: field order as Go encodes the
// struct (kind before apiVersion), empty maps and lists left out as `omitempty`
// does, so a response body reads like a real server's.

import type { JsonObject } from './go-format.js';
import { LEASE_API_VERSION } from './status.js';

/** `spec` of a Lease. MicroTimes are strings with six fractional digits. */
export interface LeaseSpecFields {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  strategy?: string;
  preferredHolder?: string;
}

/** One `metadata.managedFields[]` entry. */
export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
}

/** `metadata` of a stored Lease. */
export interface LeaseMetadata {
  name: string;
  generateName?: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: JsonObject[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
}

/** A Lease exactly as the emulator serves it over the wire. */
export interface LeaseObject {
  kind: 'Lease';
  apiVersion: 'coordination.k8s.io/v1';
  metadata: LeaseMetadata;
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
