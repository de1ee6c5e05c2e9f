// Status bodies worded, shaped and ordered exactly as the API server's
// k8s.io/apimachinery/pkg/api/errors builds them: clients parse `reason` and
// tests compare `message`, so both must match a real server byte for byte.

import { goQuote } from './go-format.js';

/** One cause of an error (`details.causes[]`). */
export interface StatusCause {
  /** A machine-readable cause, e.g. `FieldValueInvalid`. */
  readonly reason?: string;
  /** A human-readable description of the cause. */
  readonly message?: string;
  /** The field at fault, e.g. `spec.leaseDurationSeconds`. */
  readonly field?: string;
}

/** `details` of a Status. */
export interface StatusDetails {
  /** The name of the object the error is about. */
  readonly name?: string;
  /** The API group of that object, e.g. `coordination.k8s.io`. */
  readonly group?: string;
  /** Its resource or kind, e.g. `leases`. */
  readonly kind?: string;
  /** Its uid, when known. */
  readonly uid?: string;
  /** The individual causes, e.g. one per invalid field. */
  readonly causes?: readonly StatusCause[];
  /** Seconds the client should wait before retrying. */
  readonly retryAfterSeconds?: number;
}

/** A `meta.k8s.io/v1` Status, as every non-2xx answer (and DELETE) carries it. */
export interface Status {
  /** Always `Status`. */
  readonly kind: 'Status';
  /** Always `v1`. */
  readonly apiVersion: 'v1';
  /** Always empty. */
  readonly metadata: Readonly<Record<string, never>>;
  /** `Failure` for an error, `Success` otherwise. */
  readonly status: 'Success' | 'Failure';
  /** A human-readable description, worded as the API server words it. */
  readonly message?: string;
  /** A machine-readable reason, e.g. `Conflict`, `NotFound`, `Forbidden`. */
  readonly reason?: string;
  /** What the error is about. */
  readonly details?: StatusDetails;
  /** The HTTP status code of the answer. */
  readonly code?: number;
}

/** The API group of leases. */
export const LEASE_GROUP = 'coordination.k8s.io';
/** The resource name of leases. */
export const LEASE_RESOURCE = 'leases';
/** `group/version` of leases. */
export const LEASE_API_VERSION = 'coordination.k8s.io/v1';
/** The qualified resource, as error messages name it. */
export const QUALIFIED_LEASES = 'leases.coordination.k8s.io';
/** The qualified kind, as validation errors name it. */
export const QUALIFIED_LEASE_KIND = 'Lease.coordination.k8s.io';

const OPTIMISTIC_LOCK_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

/** A failed request: the handlers throw it and the server answers its Status. */
export class StatusError extends Error {
  readonly status: Status;

  constructor(status: Status) {
    super(status.message ?? `status ${status.code ?? 0}`);
    this.name = 'StatusError';
    this.status = status;
  }
}

/** Builds a Failure Status, leaving out empty fields as Go's `omitempty` does. */
export function failure(code: number, reason: string, message: string, details?: StatusDetails): Status {
  const status: { -readonly [K in keyof Status]: Status[K] } = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
  };
  if (message !== '') status.message = message;
  if (reason !== '') status.reason = reason;
  const cleaned = details === undefined ? undefined : cleanDetails(details);
  if (cleaned !== undefined) status.details = cleaned;
  status.code = code;
  return status;
}

function cleanDetails(details: StatusDetails): StatusDetails | undefined {
  const out: { -readonly [K in keyof StatusDetails]: StatusDetails[K] } = {};
  if (details.name) out.name = details.name;
  if (details.group) out.group = details.group;
  if (details.kind) out.kind = details.kind;
  if (details.uid) out.uid = details.uid;
  if (details.causes !== undefined && details.causes.length > 0) out.causes = details.causes.map(cleanCause);
  if (details.retryAfterSeconds) out.retryAfterSeconds = details.retryAfterSeconds;
  // A pointer that was set serialises as {} even when every field is empty.
  return out;
}

function cleanCause(cause: StatusCause): StatusCause {
  const out: { -readonly [K in keyof StatusCause]: StatusCause[K] } = {};
  if (cause.reason) out.reason = cause.reason;
  if (cause.message) out.message = cause.message;
  if (cause.field) out.field = cause.field;
  return out;
}

function leaseDetails(name: string): StatusDetails {
  return { name, group: LEASE_GROUP, kind: LEASE_RESOURCE };
}

/** 404 for a lease that does not exist. */
export function leaseNotFound(name: string): Status {
  return failure(404, 'NotFound', `${QUALIFIED_LEASES} ${goQuote(name)} not found`, leaseDetails(name));
}

/** 404 for a write into a namespace that does not exist (NamespaceLifecycle admission). */
export function namespaceNotFound(namespace: string): Status {
  return failure(404, 'NotFound', `namespaces ${goQuote(namespace)} not found`, {
    name: namespace,
    kind: 'namespaces',
  });
}

/** 409 AlreadyExists for a POST of a name that is taken. */
export function alreadyExists(name: string): Status {
  return failure(409, 'AlreadyExists', `${QUALIFIED_LEASES} ${goQuote(name)} already exists`, leaseDetails(name));
}

/** 409 Conflict for a stale resourceVersion on update. */
export function staleConflict(name: string): Status {
  return conflict(QUALIFIED_LEASES, LEASE_RESOURCE, name, OPTIMISTIC_LOCK_MESSAGE);
}

/**
 * 409 Conflict. `label` is what the message names: `leases.coordination.k8s.io`
 * for storage conflicts, `Lease.coordination.k8s.io` for failed delete
 * preconditions (the server builds that one from the kind).
 */
export function conflict(label: string, detailsKind: string, name: string, cause: string): Status {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${label} ${goQuote(name)}: ${cause}`, {
    name,
    group: LEASE_GROUP,
    kind: detailsKind,
  });
}

/** 400 BadRequest (no details, as errors.NewBadRequest). */
export function badRequest(message: string): Status {
  return failure(400, 'BadRequest', message);
}

/** A 500 from a plain Go error: no reason, no details. */
export function internalError(message: string): Status {
  return failure(500, '', message);
}

/** 401 for a missing or unknown bearer token. */
export function unauthorized(): Status {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

/** 403 from the authorizer. `name` is empty for requests that do not name one lease. */
export function forbidden(name: string, message: string): Status {
  const prefix = name === '' ? QUALIFIED_LEASES : `${QUALIFIED_LEASES} ${goQuote(name)}`;
  return failure(403, 'Forbidden', `${prefix} is forbidden: ${message}`, leaseDetails(name));
}

/** 403 for a non-resource path (errors.NewForbidden with an empty resource). */
export function forbiddenPath(message: string): Status {
  return failure(403, 'Forbidden', `forbidden: ${message}`, {});
}

/** 410 Expired, sent as a watch ERROR event when a resume revision is compacted. */
export function expired(message: string): Status {
  return failure(410, 'Expired', message);
}

/** The 504 the watch cache answers for a revision it has not reached. */
export function tooLargeResourceVersion(requested: string, current: string): Status {
  return failure(504, 'Timeout', `Timeout: Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

/** 404 from the API's router for a path inside the group/version it does not serve (empty details). */
export function routeNotFound(): Status {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {});
}

/** 405 from the API's router for a method a path does not serve (empty details). */
export function methodNotAllowed(): Status {
  return failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

/** 415 for a body in a format the endpoint does not take. */
export function unsupportedMediaType(accepted: readonly string[]): Status {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

/** 413 for a body over the server's 3 MiB limit. */
export function entityTooLarge(limit: number): Status {
  return failure(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
}

/**
 * 422 from a failed JSON patch operation (errors.NewGenericServerResponse,
 * which keeps the operation's error out of the answer: empty details).
 */
export function patchRejected(): Status {
  return failure(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
}

/** The Success Status a DELETE of a lease answers. */
export function deleted(name: string, uid: string): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name, group: LEASE_GROUP, kind: LEASE_RESOURCE, uid },
  };
}
