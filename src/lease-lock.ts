import { CoordinationV1Api, KubeConfig, Observable } from '@kubernetes/client-node';
import type { ConfigurationOptions, RequestContext, ResponseContext, V1Lease, V1LeaseList } from '@kubernetes/client-node';
import { throwIfAborted } from './abort.js';
import { InvalidConfigError, LeaseApiError, LeaseRequestError } from './errors.js';
import { LeaseEventRecorder } from './event-recorder.js';
import type { EventSubject } from './event-recorder.js';
import { isRetryableNetworkError, kubeRequest } from './kube-http.js';
import type { KubeHttpRequest } from './kube-http.js';
import type { LeaseRef } from './lease-ref.js';
import { resolveIdentity, resolveLeaseRef } from './lease-ref.js';
import { log } from './log.js';
import { defaultOptions } from './options.js';
import type { LockRecord } from './record.js';
import { leaseLockRecordToLeaseSpec, leaseSpecToLeaseLockRecord } from './record.js';
import type { LockEventDetails, LockSnapshot, LockWatchEvent, LockWatchHandlers, ResourceLock, ResourceLockCallOptions } from './resource-lock.js';
import { WatchHttpError, streamWatch } from './watch-stream.js';
import { formatWaitingLine, parseWaitingLine } from './waiting-line.js';
import type { WaitingTicket } from './waiting-line.js';
import type { RawWatchEvent } from './watch-stream.js';

/** A {@link LockSnapshot} of a Lease, carrying the whole object so an update keeps what it does not own. */
export interface LeaseSnapshot extends LockSnapshot {
  /** The Lease as the API server returned it. */
  readonly lease: V1Lease;
}

/** Options of a {@link LeaseLock}. */
export interface LeaseLockOptions {
  /**
   * The timeout of each API request.
   * @default 5000
   */
  readonly requestTimeoutMs?: number;
  /**
   * Receives a line for every change of holder this lock writes (the Go package's `RecordEvent`).
   * Must not throw. It records nothing in the cluster (see `recordEvents` for that).
   * @default undefined (changes are only logged under `leaselocker:api`)
   */
  readonly eventRecorder?: (message: string) => void;
  /**
   * Also record each acquisition, release and loss as an `events.k8s.io/v1` Event about the
   * Lease (reason `LeaseAcquired`, `LeaseReleased` or `LeaseLost`, the note naming the identity),
   * as client-go's leader election does. Needs a KubeConfig (a `CoordinationV1Api` cannot post
   * Events) and RBAC permission to `create` `events` in API group `events.k8s.io`. Best effort:
   * posted in the background with `requestTimeoutMs`, 25 of a type in a burst then one per five
   * minutes; a failure is only logged, and after a 403 a process warning (code
   * `LEASELOCKER_EVENTS`) is emitted once and no more Events are posted.
   * @default false
   */
  readonly recordEvents?: boolean;
}

/**
 * A {@link ResourceLock} over a `coordination.k8s.io/v1` Lease: the only part of leaselocker
 * that speaks HTTP. Every call has a timeout; API answers become typed errors.
 *
 * Built from a KubeConfig, it sends its requests itself over node:http(s) on kept-alive
 * connections, applying the KubeConfig's TLS material and credentials to every request (so
 * rotated tokens and certificates are picked up, and a failed credential call fails only that
 * request). Built from a `CoordinationV1Api`, it calls that client, adding only an abort signal.
 */
export class LeaseLock implements ResourceLock<LeaseSnapshot> {
  readonly identity: string;
  /** The Lease this lock works on, as validated: its name lowercased. */
  readonly lease: LeaseRef;
  /**
   * Streams changes of the Lease (see {@link ResourceLock.watch}). Undefined when the lock was
   * built from a bare `CoordinationV1Api`, which cannot watch: waiting lockers then poll.
   */
  readonly watch: ((fromVersion: string, handlers: LockWatchHandlers<LeaseSnapshot>, options?: ResourceLockCallOptions) => Promise<void>) | undefined;
  readonly #api: CoordinationV1Api | undefined;
  readonly #kubeConfig: KubeConfig | undefined;
  readonly #requestTimeoutMs: number;
  readonly #eventRecorder: ((message: string) => void) | undefined;
  readonly #events: LeaseEventRecorder | undefined;
  /** The Lease as last read or written: what a recorded Event is about. */
  #subject: EventSubject = {};

  /**
   * @param client - a KubeConfig (a `CoordinationV1Api` is made from it) or a ready `CoordinationV1Api`.
   * @param lease - the Lease to lock; its name is lowercased.
   * @param identity - the holder identity this lock writes; unique per process (e.g. the pod name).
   */
  constructor(client: KubeConfig | CoordinationV1Api, lease: LeaseRef, identity: string, options: LeaseLockOptions = {}) {
    this.lease = resolveLeaseRef(lease);
    this.identity = resolveIdentity(identity);
    const requestTimeoutMs = options.requestTimeoutMs ?? defaultOptions.requestTimeoutMs;
    if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs <= 0) {
      throw new InvalidConfigError('requestTimeoutMs', `must be a positive whole number of milliseconds, got ${String(requestTimeoutMs)}`);
    }
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#eventRecorder = options.eventRecorder;
    const recordEvents = options.recordEvents ?? false;
    if (typeof recordEvents !== 'boolean') throw new InvalidConfigError('recordEvents', `must be a boolean, got ${String(recordEvents)}`);
    if (client instanceof KubeConfig) {
      this.#kubeConfig = client;
    } else if (client instanceof CoordinationV1Api) {
      // Its configuration is not reachable the same way on client-node 1.x and 2.x: no Events API from it.
      if (recordEvents) throw new InvalidConfigError('recordEvents', 'needs a KubeConfig: a LeaseLock built from a CoordinationV1Api cannot post Events');
      this.#api = client;
    } else {
      throw new InvalidConfigError('kubeConfig', 'must be a KubeConfig or a CoordinationV1Api from @kubernetes/client-node');
    }
    this.#events = recordEvents && this.#kubeConfig !== undefined
      ? new LeaseEventRecorder(this.#kubeConfig, this.lease, this.identity, { requestTimeoutMs })
      : undefined;
    this.watch = this.#kubeConfig === undefined ? undefined : async (fromVersion, handlers, options = {}) => this.#watch(fromVersion, handlers, options);
  }

  /**
   * The KubeConfig, its API server and the Lease: lockers of this process share a watch only
   * when they watch the same Lease with the same KubeConfig object, hence the same credentials.
   */
  watchKey(): string {
    const kubeConfig = this.#kubeConfig;
    return kubeConfig === undefined ? this.describe() : `${kubeConfigId(kubeConfig)} ${kubeConfig.getCurrentCluster()?.server ?? ''} ${this.describe()}`;
  }

  describe(): string {
    return `${this.lease.namespace}/${this.lease.name}`;
  }

  /**
   * Logs the change, hands it to `eventRecorder`, and with `recordEvents` posts an Event about
   * the Lease in the background (only for a call with `details`, which tell its kind).
   */
  recordEvent(message: string, details?: LockEventDetails): void {
    const note = `${this.identity} ${message}`;
    log.api('%s: event: %s', this.describe(), note);
    try {
      this.#eventRecorder?.(note);
    } catch (error) {
      log.api('%s: eventRecorder threw: %O', this.describe(), error);
    }
    try {
      if (details !== undefined) this.#events?.record(details, note, this.#subject);
    } catch (error) {
      log.api('%s: recording an Event failed: %O', this.describe(), error);
    }
  }

  async get(options: ResourceLockCallOptions = {}): Promise<LeaseSnapshot | undefined> {
    const { namespace, name } = this.lease;
    try {
      const lease = await this.#call<V1Lease>('get', options.signal, { method: 'GET', path: leasePath(namespace, name) }, (api, config) => api.readNamespacedLease({ namespace, name }, config));
      return this.#seen(snapshotOf(lease, 'get'));
    } catch (error) {
      if (error instanceof LeaseApiError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async list(options: ResourceLockCallOptions = {}): Promise<{
    /** The Lease, or `undefined` when it does not exist. */
    snapshot: LeaseSnapshot | undefined;
    /** The list's resourceVersion, to watch from. */
    version: string;
  }> {
    const { namespace, name } = this.lease;
    const fieldSelector = `metadata.name=${name}`;
    const list = await this.#call<V1LeaseList>('list', options.signal, { method: 'GET', path: leasePath(namespace), query: { fieldSelector } }, (api, config) => api.listNamespacedLease({ namespace, fieldSelector }, config));
    const items: unknown = (list as Partial<V1LeaseList> | null)?.items;
    if (!Array.isArray(items)) throw notALease('list', 'a LeaseList without items');
    const lease = (items as V1Lease[])[0];
    return { snapshot: lease === undefined ? undefined : this.#seen(snapshotOf(lease, 'list')), version: list.metadata?.resourceVersion ?? '' };
  }

  async create(record: LockRecord, options: ResourceLockCallOptions = {}): Promise<LeaseSnapshot> {
    const { namespace, name } = this.lease;
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace },
      spec: leaseLockRecordToLeaseSpec(record),
    };
    const lease = await this.#call<V1Lease>('create', options.signal, { method: 'POST', path: leasePath(namespace), body }, (api, config) => api.createNamespacedLease({ namespace, body }, config));
    return this.#seen(snapshotOf(lease, 'write'));
  }

  async update(record: LockRecord, base: LeaseSnapshot, options: ResourceLockCallOptions = {}): Promise<LeaseSnapshot> {
    const { namespace, name } = this.lease;
    // Written over the object we read or wrote last: its resourceVersion makes the write
    // conditional (409 if anyone wrote since), its uid makes it fail rather than recreate a
    // deleted Lease, and spec fields we do not own (strategy, preferredHolder) stay as they are.
    // managedFields are left out: the server keeps them as they are for an update without them,
    // and they are most of the bytes of every renewal.
    const { managedFields: _managedFields, ...metadata } = base.lease.metadata ?? {};
    const body: V1Lease = {
      ...base.lease,
      metadata: { ...metadata, name, namespace, resourceVersion: base.version, ...withWaitingLine(base.lease.metadata?.annotations, record.waiters) },
      spec: { ...base.lease.spec, ...leaseLockRecordToLeaseSpec(record) },
    };
    const lease = await this.#call<V1Lease>('update', options.signal, { method: 'PUT', path: leasePath(namespace, name), body }, (api, config) => api.replaceNamespacedLease({ namespace, name, body }, config));
    return this.#seen(snapshotOf(lease, 'write'));
  }

  /** Remembers the Lease's uid and resourceVersion for the Events recorded next. */
  #seen(snapshot: LeaseSnapshot): LeaseSnapshot {
    this.#subject = { uid: snapshot.lease.metadata?.uid, resourceVersion: snapshot.version };
    return snapshot;
  }

  async #watch(fromVersion: string, handlers: LockWatchHandlers<LeaseSnapshot>, options: ResourceLockCallOptions): Promise<void> {
    const kubeConfig = this.#kubeConfig;
    if (kubeConfig === undefined) throw new Error('unreachable: watch without a KubeConfig');
    const { namespace, name } = this.lease;
    const operation = `watch lease ${this.describe()}`;
    // The server ends the stream after timeoutSeconds (spread, as client-go's reflector does, so
    // that many waiters do not reconnect at once). Bookmarks are the heartbeat: kube-apiserver
    // sends one about every minute to a watch that allows them, and a waiter's holder renews far
    // more often, so a stream silent for longer is a half-open connection or a stuck watch cache.
    const timeoutSeconds = watchTimeoutSeconds + Math.floor(Math.random() * watchTimeoutSeconds);
    log.api('%s: from resourceVersion %s', operation, fromVersion);
    try {
      await streamWatch({
        kubeConfig,
        path: leasePath(namespace),
        query: { watch: 'true', fieldSelector: `metadata.name=${name}`, resourceVersion: fromVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) },
        connectTimeoutMs: this.#requestTimeoutMs,
        idleTimeoutMs: watchSilenceMs,
        signal: options.signal,
        onOpen: () => handlers.onOpen(),
        onEvent: (event) => handlers.onEvent(toWatchEvent(operation, event)),
      });
    } catch (error) {
      throwIfAborted(options.signal);
      if (error instanceof WatchHttpError) throw toLeaseError(operation, { code: error.statusCode, body: error.body });
      throw error;
    }
  }

  /**
   * Runs one API call with the per-request timeout and the caller's signal, turning failures
   * into typed errors: over our own HTTP path with a KubeConfig, else through the CoordinationV1Api.
   */
  async #call<T>(verb: string, signal: AbortSignal | undefined, request: Omit<KubeHttpRequest, 'operation'>, callApi: (api: CoordinationV1Api, config: ConfigurationOptions) => Promise<T>): Promise<T> {
    const operation = `${verb} lease ${this.describe()}`;
    throwIfAborted(signal);
    const started = performance.now();
    try {
      const result = this.#kubeConfig === undefined
        ? await this.#callApi(operation, signal, callApi)
        : await this.#send<T>(this.#kubeConfig, { ...request, operation }, signal);
      log.api('%s: ok in %d ms', operation, Math.round(performance.now() - started));
      return result;
    } catch (error) {
      throwIfAborted(signal);
      log.api('%s: failed in %d ms: %s', operation, Math.round(performance.now() - started), (error as Error).message);
      throw error;
    }
  }

  async #send<T>(kubeConfig: KubeConfig, request: KubeHttpRequest, signal: AbortSignal | undefined): Promise<T> {
    const response = await kubeRequest(kubeConfig, request, this.#requestTimeoutMs, signal);
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw toLeaseError(request.operation, { code: response.statusCode, body: response.body, headers: response.headers });
    }
    try {
      return JSON.parse(response.body) as T;
    } catch (error) {
      throw new LeaseRequestError(request.operation, { timedOut: false, cause: new Error(`HTTP ${response.statusCode} answer is not JSON`, { cause: error }) });
    }
  }

  async #callApi<T>(operation: string, signal: AbortSignal | undefined, callApi: (api: CoordinationV1Api, config: ConfigurationOptions) => Promise<T>): Promise<T> {
    const api = this.#api;
    if (api === undefined) throw new Error('unreachable: no CoordinationV1Api');
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#requestTimeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await callApi(api, requestOptions(controller.signal));
    } catch (error) {
      throwIfAborted(signal);
      throw controller.signal.aborted ? new LeaseRequestError(operation, { timedOut: true, cause: error }) : toLeaseError(operation, error);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/**
 * Per-request options that attach `signal` to a CoordinationV1Api request (`setSignal` exists on
 * client-node 1.4 and 2.x alike). `append` keeps client-node's own middleware (User-Agent, auth);
 * its middleware must answer Observables, not Promises.
 */
function requestOptions(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [{
      pre: (context: RequestContext) => {
        context.setSignal(signal);
        return new Observable(Promise.resolve(context));
      },
      post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
    }],
    middlewareMergeStrategy: 'append',
  };
}

function leasePath(namespace: string, name?: string): string {
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  return name === undefined ? leases : `${leases}/${encodeURIComponent(name)}`;
}

const kubeConfigIds = new WeakMap<KubeConfig, number>();
let lastKubeConfigId = 0;

/** A number naming a KubeConfig object within this process. */
function kubeConfigId(kubeConfig: KubeConfig): number {
  let id = kubeConfigIds.get(kubeConfig);
  if (id === undefined) {
    lastKubeConfigId += 1;
    id = lastKubeConfigId;
    kubeConfigIds.set(kubeConfig, id);
  }
  return id;
}

/** Where a Lease keeps its waiting line (see waiting-line.ts). */
const waitingLineAnnotation = 'leaselocker/waiting-line';

/** The annotations to write for `line`: as they are when the record says nothing of a line. */
function withWaitingLine(annotations: Readonly<Record<string, string>> | undefined, line: readonly WaitingTicket[] | undefined): { annotations?: Record<string, string> } {
  if (line === undefined) return {};
  const others = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== waitingLineAnnotation));
  const value = formatWaitingLine(line);
  return { annotations: value === undefined ? others : { ...others, [waitingLineAnnotation]: value } };
}

const watchTimeoutSeconds = 300;
/** The longest silence a watch stream may keep before it is dropped and resumed from the last version seen. */
const watchSilenceMs = 90_000;

function toWatchEvent(operation: string, event: RawWatchEvent): LockWatchEvent<LeaseSnapshot> {
  const object = (typeof event.object === 'object' && event.object !== null ? event.object : {}) as V1Lease & StatusBody & { code?: unknown };
  const version = object.metadata?.resourceVersion ?? '';
  switch (event.type) {
    case 'ADDED':
    case 'MODIFIED':
      return { type: 'change', snapshot: snapshotOf(object, operation), version };
    case 'DELETED':
      return { type: 'change', snapshot: undefined, version };
    case 'BOOKMARK':
      return { type: 'bookmark', version };
    default:
      // ERROR: the object is a Status; 410 means our start version is too old and we must list again.
      throw toLeaseError(operation, { code: typeof object.code === 'number' ? object.code : 500, body: object });
  }
}

/** The snapshot of a Lease the server answered; anything else (a proxy's page, `null`, `{}`) is an answer we cannot use. */
function snapshotOf(lease: V1Lease, operation: string): LeaseSnapshot {
  if (typeof lease !== 'object' || lease === null || Array.isArray(lease) || typeof lease.metadata !== 'object' || lease.metadata === null) {
    throw notALease(operation, 'an object without metadata');
  }
  return {
    record: { ...leaseSpecToLeaseLockRecord(lease.spec), waiters: parseWaitingLine(lease.metadata.annotations?.[waitingLineAnnotation]) },
    version: lease.metadata?.resourceVersion ?? '',
    lease,
  };
}

/** A 2xx answer that is not what the Lease API sends: retried, as an answer lost on the way would be. */
function notALease(operation: string, what: string): LeaseRequestError {
  return new LeaseRequestError(operation, { timedOut: false, cause: new Error(`the server answered ${what}, not a Lease`) });
}

// client-node drops the body of answers its OpenAPI spec lists without a schema (401 among
// them); name the reason from the code then, as client-go does for bodiless errors.
const reasonForCode: Readonly<Record<number, string>> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  409: 'Conflict', 410: 'Expired', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 422: 'Invalid',
  429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

interface StatusBody {
  reason?: unknown;
  message?: unknown;
}

/** Turns an HTTP answer or a client-node failure into a LeaseApiError (an HTTP answer) or a LeaseRequestError (no answer). */
function toLeaseError(operation: string, error: unknown): LeaseApiError | LeaseRequestError {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number' && 'body' in error) {
    // client-node 1.x hands the Status body over as the raw JSON string.
    const status = parseStatus(error.body);
    const headers = 'headers' in error && typeof error.headers === 'object' && error.headers !== null ? error.headers as Record<string, unknown> : {};
    const retryAfter = Number(headers['retry-after']);
    return new LeaseApiError(operation, {
      statusCode: error.code,
      reason: typeof status.reason === 'string' && status.reason !== '' ? status.reason : (reasonForCode[error.code] ?? ''),
      statusMessage: typeof status.message === 'string' ? status.message : '',
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
      cause: error,
    });
  }
  return new LeaseRequestError(operation, { timedOut: false, retryable: isRetryableNetworkError(error), cause: error });
}

function parseStatus(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      return typeof parsed === 'object' && parsed !== null ? parsed : {};
    } catch {
      return {};
    }
  }
  return typeof body === 'object' && body !== null ? body : {};
}
