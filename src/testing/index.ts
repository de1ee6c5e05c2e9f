/**
 * An in-process Lease API server that answers like a real kube-apiserver, to test code that
 * uses leaselocker through the real `@kubernetes/client-node` without a cluster: see
 * {@link startLeaseApiEmulator}.
 * @module leaselocker/testing
 */
// leaselocker/testing: an in-process Lease API emulator for tests that drive a
// real Kubernetes client without a cluster.

export {
  LeaseApiEmulator,
  startLeaseApiEmulator,
  type KubeConfigOptions,
  type LeaseApiEmulatorOptions,
  type LeaseInput,
  type LeaseSpecInput,
  type WaitForOptions,
} from './emulator.js';
export { LEASE_VERBS, type LeaseVerb, type UserOptions } from './auth.js';
export type {
  BlackholeOptions,
  DropWatchesOptions,
  FailSpec,
  FaultHandle,
  FaultMatch,
  InterceptedRequest,
  LatencyOptions,
  LeaseApiFaults,
  RequestHook,
} from './faults.js';
export type { LeaseMetadata, LeaseObject, LeaseSpecFields, ManagedFieldsEntry } from './lease-object.js';
export type { RequestFilter, RequestRecord } from './request-log.js';
export type { Status, StatusCause, StatusDetails } from './status.js';
export type { JsonObject, JsonValue } from './go-format.js';
