// The Lease API emulator: an in-process HTTP server that answers the
// coordination.k8s.io/v1 Lease API the way a kube-apiserver does, for tests
// that drive a real Kubernetes client without a cluster.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { KubeConfig } from '@kubernetes/client-node';

import { AccessControl, type UserOptions } from './auth.js';
import { FaultInjector, type LeaseApiFaults } from './faults.js';
import { decodeLease } from './lease-codec.js';
import { keptSpec, type LeaseObject, type LeaseSpecFields } from './lease-object.js';
import { LeaseStore, newSystemFields } from './lease-store.js';
import { managedFieldsOnCreate, managedFieldsOnUpdate } from './managed-fields.js';
import { dateToMicroTime } from './micro-time.js';
import { handleRequest, type EmulatorState } from './request-handler.js';
import { RequestLog, type RequestFilter, type RequestRecord } from './request-log.js';
import { LEASE_GROUP, QUALIFIED_LEASE_KIND } from './status.js';
import { dns1123LabelErrors, invalid, validateLeaseCreate, validateLeaseUpdate } from './validation.js';
import { WatchHub } from './watch.js';

/** Options of {@link startLeaseApiEmulator}. */
export interface LeaseApiEmulatorOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Namespaces that exist; writes into any other answer 404. @default ['default'] */
  readonly namespaces?: readonly string[];
  /**
   * Watch events kept for watches that resume from a resourceVersion; a resume
   * from before the oldest kept event answers 410 Expired. @default 100
   */
  readonly historyLimit?: number;
  /**
   * Interval of BOOKMARK events on watches with `allowWatchBookmarks=true`; 0
   * sends none. As on a real server, which sends one about every minute and
   * one 2 s before a watch's timeoutSeconds, a bookmark is only sent once the
   * store has moved past the revision the watch started from. @default 1000
   */
  readonly bookmarkIntervalMs?: number;
  /**
   * Run requests without a token as `system:anonymous` (which may read
   * /version and the health endpoints but no lease), as a server started with
   * `--anonymous-auth=true`; otherwise they get 401. @default false
   */
  readonly anonymousAuth?: boolean;
  /**
   * Keep `spec.strategy` and `spec.preferredHolder`, as a server with the
   * CoordinatedLeaderElection feature gate on does. Off, as by default in
   * Kubernetes, the server drops both fields from every write. @default false
   */
  readonly coordinatedLeaderElection?: boolean;
  /** Closes the emulator when aborted. @default none */
  readonly signal?: AbortSignal;
}

/** A lease to store with {@link LeaseApiEmulator.putLease}; a {@link LeaseObject} from getLease() fits. */
export interface LeaseInput {
  /** Of the metadata only these fields are written; uid, resourceVersion and the rest are the server's. */
  readonly metadata: {
    /** The Lease's name. */
    readonly name: string;
    /** Labels; they replace the stored ones. */
    readonly labels?: Readonly<Record<string, string>>;
    /** Annotations; they replace the stored ones. */
    readonly annotations?: Readonly<Record<string, string>>;
  };
  /** The lease record. */
  readonly spec?: LeaseSpecInput;
}

/** `spec` for {@link LeaseInput}: MicroTimes as six-digit strings or as Dates. */
export type LeaseSpecInput = {
  readonly [K in keyof LeaseSpecFields]?: K extends 'acquireTime' | 'renewTime' ? string | Date : LeaseSpecFields[K];
};

/** Options of {@link LeaseApiEmulator.waitFor}. */
export interface WaitForOptions {
  /** How long to wait before rejecting. @default 5000 */
  readonly timeoutMs?: number;
  /** Rejects with its reason when aborted. @default none */
  readonly signal?: AbortSignal;
}

/** Options of {@link LeaseApiEmulator.kubeConfig}. */
export interface KubeConfigOptions {
  /** The user whose token to use (added with addUser). @default the admin, allowed everything */
  readonly user?: string;
}

const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 0,
  namespaces: Object.freeze(['default']),
  historyLimit: 100,
  bookmarkIntervalMs: 1000,
  anonymousAuth: false,
  coordinatedLeaderElection: false,
});

const EXTERNAL_MANAGER = 'lease-api-emulator';

interface Waiter {
  readonly check: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Starts a Lease API emulator.
 *
 * @example
 * ```ts
 * await using emulator = await startLeaseApiEmulator();
 * const api = emulator.kubeConfig().makeApiClient(CoordinationV1Api);
 * await api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'my-lock' } } });
 * ```
 */
export async function startLeaseApiEmulator(options: LeaseApiEmulatorOptions = {}): Promise<LeaseApiEmulator> {
  return LeaseApiEmulator.start(options);
}

/** An in-process server for the coordination.k8s.io/v1 Lease API. Create it with {@link startLeaseApiEmulator}. */
export class LeaseApiEmulator implements AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Fault injection. */
  readonly faults: LeaseApiFaults;

  readonly #server: Server;
  readonly #store: LeaseStore;
  readonly #access: AccessControl;
  readonly #faults: FaultInjector;
  readonly #log = new RequestLog();
  readonly #watches: WatchHub;
  readonly #namespaces: Set<string>;
  readonly #coordinatedLeaderElection: boolean;
  readonly #closing = new AbortController();
  readonly #waiters = new Set<Waiter>();
  #closed: Promise<void> | undefined;
  #detachSignal: (() => void) | undefined;

  private constructor(server: Server, url: string, options: Required<Omit<LeaseApiEmulatorOptions, 'signal'>>) {
    this.#server = server;
    this.url = url;
    this.#namespaces = new Set(options.namespaces);
    this.#coordinatedLeaderElection = options.coordinatedLeaderElection;
    this.#store = new LeaseStore(options.historyLimit);
    this.#access = new AccessControl(options.anonymousAuth);
    this.#watches = new WatchHub(this.#store, options.bookmarkIntervalMs, () => this.#notify());
    this.#faults = new FaultInjector(
      (abrupt) => this.#watches.drop(abrupt),
      () => this.#notify(),
    );
    this.faults = this.#faults;
    this.#store.subscribe(() => this.#notify());
    const state: EmulatorState = {
      store: this.#store,
      access: this.#access,
      faults: this.#faults,
      log: this.#log,
      watches: this.#watches,
      namespaces: this.#namespaces,
      coordinatedLeaderElection: options.coordinatedLeaderElection,
      closing: this.#closing.signal,
      notify: () => this.#notify(),
    };
    server.on('request', (request, response) => void handleRequest(state, request, response));
  }

  /** Same as {@link startLeaseApiEmulator}. */
  static async start(options: LeaseApiEmulatorOptions = {}): Promise<LeaseApiEmulator> {
    const resolved = resolveOptions(options);
    options.signal?.throwIfAborted();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(resolved.port, resolved.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const emulator = new LeaseApiEmulator(server, `http://${host}:${address.port}`, resolved);
    const signal = options.signal;
    if (signal !== undefined) {
      const onAbort = (): void => void emulator.close();
      signal.addEventListener('abort', onAbort, { once: true });
      emulator.#detachSignal = () => signal.removeEventListener('abort', onAbort);
      if (signal.aborted) onAbort();
    }
    return emulator;
  }

  /**
   * A ready client configuration for this server: plain http (hence
   * `skipTLSVerify: true`, which client-node requires for http) and the admin's
   * or a user's bearer token.
   */
  kubeConfig(options: KubeConfigOptions = {}): KubeConfig {
    const identity = this.#access.identity(options.user);
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'lease-api-emulator', server: this.url, skipTLSVerify: true }],
      users: [{ name: identity.name, token: identity.token }],
      contexts: [
        { name: 'lease-api-emulator', cluster: 'lease-api-emulator', user: identity.name, namespace: this.namespaces[0] ?? 'default' },
      ],
      currentContext: 'lease-api-emulator',
    });
    return config;
  }

  /** The bearer token of a user (the admin when omitted), for raw HTTP requests. */
  token(user?: string): string {
    return this.#access.identity(user).token;
  }

  /**
   * Adds a token identity allowed only the given lease verbs (all of them by
   * default), and returns a KubeConfig for it. Calling it again for the same
   * name changes the permissions and keeps the token.
   */
  addUser(name: string, options: UserOptions = {}): KubeConfig {
    this.#access.addUser(name, options);
    return this.kubeConfig({ user: name });
  }

  /** Namespaces that exist. */
  get namespaces(): readonly string[] {
    return [...this.#namespaces];
  }

  /** Makes a namespace exist. Idempotent. */
  createNamespace(name: string): void {
    if (typeof name !== 'string') throw new TypeError('createNamespace: name must be a string');
    const errors = dns1123LabelErrors(name);
    if (errors.length > 0) throw new RangeError(`createNamespace: invalid namespace ${JSON.stringify(name)}: ${errors.join('; ')}`);
    this.#namespaces.add(name);
  }

  /** The current resourceVersion (the revision of the last write). */
  get resourceVersion(): string {
    return String(this.#store.revision);
  }

  /** A copy of a stored lease, or undefined. */
  getLease(namespace: string, name: string): LeaseObject | undefined {
    const lease = this.#store.get(namespace, name);
    return lease === undefined ? undefined : structuredClone(lease);
  }

  /** Copies of the stored leases of a namespace (or of all namespaces), by namespace and name. */
  listLeases(namespace?: string): LeaseObject[] {
    return this.#store.list(namespace).map((lease) => structuredClone(lease));
  }

  /**
   * Writes a lease "from outside", as another client would, without a
   * resourceVersion check: creates it or replaces its labels, annotations and
   * spec. Like any write it gets a new resourceVersion and emits a watch event
   * (unless nothing changed). Other metadata of the input is ignored.
   *
   * @throws RangeError when the namespace does not exist or the lease is invalid
   * @throws TypeError when a field has the wrong type or a MicroTime is malformed
   */
  putLease(namespace: string, lease: LeaseInput, options: { readonly manager?: string } = {}): LeaseObject {
    if (!this.#namespaces.has(namespace)) {
      throw new RangeError(`putLease: namespace ${JSON.stringify(namespace)} does not exist; add it with createNamespace()`);
    }
    const decoded = decodeLease(toDocument(lease));
    if (!decoded.ok) throw new TypeError(`putLease: ${decoded.message}`);
    const meta = decoded.lease.metadata;
    const name = meta.name ?? '';
    const existing = this.#store.get(namespace, name);
    const system = existing?.metadata ?? newSystemFields();
    const draft = {
      name,
      namespace,
      uid: system.uid,
      creationTimestamp: system.creationTimestamp,
      generateName: existing?.metadata.generateName,
      generation: existing?.metadata.generation,
      labels: meta.labels,
      annotations: meta.annotations,
      ownerReferences: existing?.metadata.ownerReferences,
      finalizers: existing?.metadata.finalizers,
      spec: keptSpec(decoded.lease.spec, this.#coordinatedLeaderElection),
    };
    const errors = existing === undefined ? validateLeaseCreate(draft, draft.spec) : validateLeaseUpdate(draft, draft, draft.spec);
    if (errors.length > 0) {
      throw new RangeError(`putLease: ${invalid(QUALIFIED_LEASE_KIND, LEASE_GROUP, 'Lease', name, errors).message ?? ''}`);
    }
    const manager = options.manager ?? EXTERNAL_MANAGER;
    const sent = { labels: meta.labels, annotations: meta.annotations, spec: decoded.lease.spec };
    const stored =
      existing === undefined
        ? this.#store.create(draft, managedFieldsOnCreate(sent, manager))
        : this.#store.update(draft, managedFieldsOnUpdate(existing, { ...existing.metadata, ...sent }, manager)).object;
    return structuredClone(stored);
  }

  /** Deletes a lease "from outside"; returns whether it existed. Emits a DELETED watch event. */
  deleteLease(namespace: string, name: string): boolean {
    return this.#store.delete(namespace, name) !== undefined;
  }

  /**
   * Forgets the watch history, as a kube-apiserver's watch cache does when it
   * restarts or re-lists: a watch resuming from any earlier resourceVersion
   * gets an ERROR event with a 410 Expired Status, `too old resource version:
   * REQUESTED (REVISION-NOW)`. (On a real server, compacting etcd alone does
   * not do this: watches are served from the watch cache.)
   */
  compact(): void {
    this.#store.compact();
  }

  /** Every lease API request answered (or pending), oldest first. */
  get requests(): readonly RequestRecord[] {
    return this.#log.snapshot();
  }

  /** How many logged requests match `filter` (all when omitted). */
  countRequests(filter?: RequestFilter): number {
    return this.#log.count(filter);
  }

  /** Clears the request log. */
  resetRequests(): void {
    this.#log.reset();
  }

  /** Number of watch streams open now. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** Number of requests a blackhole fault holds now. */
  get heldRequests(): number {
    return this.#faults.heldCount;
  }

  /**
   * Resolves once `predicate` returns true; it is checked now and after every
   * write, request and watch opening or closing, so no polling is involved.
   *
   * @throws Error (name `TimeoutError`) after `timeoutMs`; the signal's reason when aborted
   */
  waitFor(predicate: (emulator: this) => boolean, options: WaitForOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new RangeError(`waitFor: timeoutMs must be >= 0, got ${timeoutMs}`);
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: unknown): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
        if (error === undefined) resolve();
        else reject(error instanceof Error ? error : new Error('waitFor: aborted', { cause: error }));
      };
      const onAbort = (): void => settle(options.signal?.reason ?? new Error('aborted'));
      const waiter: Waiter = {
        check: () => {
          try {
            if (predicate(this)) settle();
          } catch (error) {
            settle(error);
          }
        },
        reject: settle,
      };
      const timer = setTimeout(() => {
        const error = new Error(`waitFor: condition not met within ${timeoutMs} ms`);
        error.name = 'TimeoutError';
        settle(error);
      }, timeoutMs);
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
      if (this.#closed !== undefined) settle(new Error('waitFor: the emulator is closed'));
      else waiter.check();
    });
  }

  /**
   * Stops the server: ends every watch, resets held and keep-alive connections,
   * rejects pending waitFor() calls. Nothing of the emulator keeps the process
   * alive afterwards. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  /** Same as {@link LeaseApiEmulator.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    this.#detachSignal?.();
    this.#closing.abort();
    this.#watches.drop(false);
    this.#faults.dropAllHeld();
    for (const waiter of [...this.#waiters]) waiter.reject(new Error('waitFor: the emulator was closed'));
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter.check();
  }
}

function resolveOptions(options: LeaseApiEmulatorOptions): Required<Omit<LeaseApiEmulatorOptions, 'signal'>> {
  const resolved = {
    host: options.host ?? DEFAULTS.host,
    port: options.port ?? DEFAULTS.port,
    namespaces: options.namespaces ?? DEFAULTS.namespaces,
    historyLimit: options.historyLimit ?? DEFAULTS.historyLimit,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? DEFAULTS.bookmarkIntervalMs,
    anonymousAuth: options.anonymousAuth ?? DEFAULTS.anonymousAuth,
    coordinatedLeaderElection: options.coordinatedLeaderElection ?? DEFAULTS.coordinatedLeaderElection,
  };
  if (typeof resolved.host !== 'string' || resolved.host === '') throw new TypeError('host must be a non-empty string');
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${resolved.port}`);
  }
  if (!Array.isArray(resolved.namespaces)) throw new TypeError('namespaces must be an array of strings');
  for (const namespace of resolved.namespaces) {
    const errors = typeof namespace === 'string' ? dns1123LabelErrors(namespace) : ['must be a string'];
    if (errors.length > 0) throw new RangeError(`namespaces: invalid namespace ${JSON.stringify(namespace)}: ${errors.join('; ')}`);
  }
  if (!Number.isInteger(resolved.historyLimit) || resolved.historyLimit < 0) {
    throw new RangeError(`historyLimit must be an integer >= 0, got ${resolved.historyLimit}`);
  }
  if (!Number.isFinite(resolved.bookmarkIntervalMs) || resolved.bookmarkIntervalMs < 0) {
    throw new RangeError(`bookmarkIntervalMs must be a finite number >= 0, got ${resolved.bookmarkIntervalMs}`);
  }
  if (typeof resolved.anonymousAuth !== 'boolean') throw new TypeError('anonymousAuth must be a boolean');
  if (typeof resolved.coordinatedLeaderElection !== 'boolean') throw new TypeError('coordinatedLeaderElection must be a boolean');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  return resolved;
}

/** The input as the JSON a client would send (Dates as MicroTimes). */
function toDocument(lease: LeaseInput): Parameters<typeof decodeLease>[0] {
  if (typeof lease !== 'object' || lease === null || typeof lease.metadata !== 'object' || lease.metadata === null) {
    throw new TypeError('putLease: lease must be an object with metadata');
  }
  const spec: Record<string, unknown> = { ...(lease.spec ?? {}) };
  for (const key of ['acquireTime', 'renewTime'] as const) {
    const value = spec[key];
    if (value instanceof Date) spec[key] = dateToMicroTime(value);
  }
  const { name, labels, annotations } = lease.metadata;
  return JSON.parse(JSON.stringify({ metadata: { name, labels, annotations }, spec })) as Parameters<typeof decodeLease>[0];
}
