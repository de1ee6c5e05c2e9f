import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from './kube-http.js';
import type { LeaseRef } from './lease-ref.js';
import { log } from './log.js';
import { MicroTime } from './record.js';
import type { LockEventDetails } from './resource-lock.js';

// Kubernetes Events (events.k8s.io/v1) about one Lease, shaped as client-go's events recorder
// writes them, rate-limited as its spam filter does. Best effort: an Event is posted once, in the
// background, and a failure is only logged; nothing here may delay, fail or outlive the lock.

/** The Lease as last seen, for the Event's `regarding`. */
export interface EventSubject {
  readonly uid?: string | undefined;
  readonly resourceVersion?: string | undefined;
}

/** Options of a {@link LeaseEventRecorder}. */
export interface LeaseEventRecorderOptions {
  /** The timeout of each post. */
  readonly requestTimeoutMs: number;
  /**
   * Events of one type (Normal, Warning) posted in a burst before the rate limit applies.
   * @default 25 (client-go's spam filter)
   */
  readonly burst?: number;
  /**
   * After a burst, one more Event of that type every this many milliseconds.
   * @default 300000 (five minutes, client-go's spam filter)
   */
  readonly refillMs?: number;
  /**
   * The monotonic clock of the rate limit, in milliseconds.
   * @default performance.now
   */
  readonly now?: () => number;
}

/** The Event's `reportingController`. */
export const reportingController = 'leaselocker';

/** Code of the process warning emitted when the API server refuses to store Events (403). */
export const eventsWarningCode = 'LEASELOCKER_EVENTS';

/** What each kind of change becomes. `action` names what was done or failed: a loss ends the renewal. */
export const eventKinds = {
  acquired: { action: 'Acquire', reason: 'LeaseAcquired', type: 'Normal' },
  released: { action: 'Release', reason: 'LeaseReleased', type: 'Normal' },
  lost: { action: 'Renew', reason: 'LeaseLost', type: 'Warning' },
} as const satisfies Record<LockEventDetails['kind'], { action: string; reason: string; type: 'Normal' | 'Warning' }>;

// Limits the API server's validation puts on an Event, in bytes.
const maxNameLength = 253;
const maxReportingInstanceBytes = 128;
const maxNoteBytes = 1024;

const defaultBurst = 25;
const defaultRefillMs = 300_000;

/**
 * What a change becomes. A locker stopped on purpose (its signal aborted: a shutdown) lost its
 * hold as designed, which is no cause for a Warning.
 */
function eventKind(details: LockEventDetails): { readonly action: string; readonly reason: string; readonly type: 'Normal' | 'Warning' } {
  const kind = eventKinds[details.kind];
  return details.kind === 'lost' && details.reason === 'cancelled' ? { ...kind, type: 'Normal' } : kind;
}

/**
 * Namespaces where the API server refused to store Events (403), per KubeConfig: every recorder
 * of the process with those credentials stops posting there, and the warning is emitted once.
 */
const refusedNamespaces = new WeakMap<KubeConfig, Set<string>>();

/** Posts Events about one Lease on behalf of one identity. Nothing it does throws or blocks. */
export class LeaseEventRecorder {
  readonly #kubeConfig: KubeConfig;
  readonly #lease: LeaseRef;
  readonly #identity: string;
  readonly #requestTimeoutMs: number;
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(kubeConfig: KubeConfig, lease: LeaseRef, identity: string, options: LeaseEventRecorderOptions) {
    this.#kubeConfig = kubeConfig;
    this.#lease = lease;
    this.#identity = identity;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#burst = options.burst ?? defaultBurst;
    this.#refillMs = options.refillMs ?? defaultRefillMs;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Posts an Event about the Lease in the background, unless the rate limit drops it or the
   * server refused Events before. `note` is truncated to what the API accepts.
   */
  record(details: LockEventDetails, note: string, subject: EventSubject): void {
    const { reason, type } = eventKind(details);
    const lease = `${this.#lease.namespace}/${this.#lease.name}`;
    if (this.#refused) {
      log.api('%s: event %s not posted: the server refused events before', lease, reason);
      return;
    }
    if (!this.#take(type)) {
      log.api('%s: event %s dropped: more than %d %s events, then one per %d s', lease, reason, this.#burst, type, this.#refillMs / 1000);
      return;
    }
    const event = this.#event(details, note, subject);
    const server = this.#kubeConfig.getCurrentCluster()?.server ?? '';
    // A post that waited for a slot longer than its own timeout is stale: dropped, not sent late.
    const scheduled = schedule(server, { post: async () => this.#post(event, reason), expiresAt: performance.now() + this.#requestTimeoutMs });
    if (!scheduled) log.api('%s: event %s dropped: %d posts to %s already waiting', lease, reason, maxQueuedPosts, server);
  }

  /** True once the server refused Events in this Lease's namespace to these credentials. */
  get #refused(): boolean {
    return refusedNamespaces.get(this.#kubeConfig)?.has(this.#lease.namespace) === true;
  }

  /** Takes a token of the bucket of `type`: a burst, then one per refill period. */
  #take(type: string): boolean {
    const now = this.#now();
    const bucket = this.#buckets.get(type) ?? { tokens: this.#burst, at: now };
    this.#buckets.set(type, bucket);
    // Whole tokens earned since `at`, which moves on by the time they took; a full bucket earns nothing.
    const earned = Math.floor((now - bucket.at) / this.#refillMs);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + earned);
    bucket.at = bucket.tokens === this.#burst ? now : bucket.at + earned * this.#refillMs;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #event(details: LockEventDetails, note: string, subject: EventSubject): Record<string, unknown> {
    const { namespace, name } = this.#lease;
    const { action, reason, type } = eventKind(details);
    const nanos = uniqueNanos();
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: eventName(name, nanos), namespace },
      eventTime: new MicroTime(Number(nanos / 1_000_000n), Number((nanos / 1000n) % 1000n)),
      reportingController,
      reportingInstance: truncateUtf8(this.#identity, maxReportingInstanceBytes, ''),
      action,
      reason,
      type,
      note: truncateUtf8(note, maxNoteBytes, '…'),
      regarding: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        namespace,
        name,
        ...(subject.uid === undefined || subject.uid === '' ? {} : { uid: subject.uid }),
        ...(subject.resourceVersion === undefined || subject.resourceVersion === '' ? {} : { resourceVersion: subject.resourceVersion }),
      },
    };
  }

  async #post(event: Record<string, unknown>, reason: string): Promise<void> {
    if (this.#refused) return;
    const { namespace, name } = this.#lease;
    const operation = `create event ${reason} about lease ${namespace}/${name}`;
    const started = performance.now();
    try {
      const response = await kubeRequest(this.#kubeConfig, {
        method: 'POST',
        path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`,
        body: event,
        operation,
        unref: true,
      }, this.#requestTimeoutMs);
      const ms = Math.round(performance.now() - started);
      if (response.statusCode >= 200 && response.statusCode <= 299) {
        log.api('%s: ok in %d ms', operation, ms);
        return;
      }
      const message = statusMessage(response.body);
      log.api('%s: HTTP %d in %d ms: %s', operation, response.statusCode, ms, message);
      if (response.statusCode === 403 && !this.#refused) {
        const refused = refusedNamespaces.get(this.#kubeConfig) ?? new Set<string>();
        refusedNamespaces.set(this.#kubeConfig, refused.add(namespace));
        process.emitWarning(`leaselocker: the API server refused to store an Event about lease ${namespace}/${name} (HTTP 403); no more Events are posted in namespace ${namespace} with these credentials`, {
          code: eventsWarningCode,
          detail: `recordEvents needs RBAC permission to create "events" in API group "events.k8s.io" in namespace ${JSON.stringify(namespace)}. ${message}`,
        });
      }
    } catch (error) {
      log.api('%s: failed in %d ms: %s', operation, Math.round(performance.now() - started), (error as Error).message);
    }
  }
}

// Posts to one API server share a few of its pooled connections at most, so that an events
// endpoint that hangs never takes the connections lease requests need, and a slow server never
// holds up the Events of another.
const maxPostsInFlight = 4;
const maxQueuedPosts = 100;

interface QueuedPost {
  readonly post: () => Promise<void>;
  /** After this (monotonic) instant the post is dropped rather than sent. */
  readonly expiresAt: number;
}

const postQueues = new Map<string, { inFlight: number; readonly waiting: QueuedPost[] }>();

/** Runs `queued` now or once a slot to `server` frees; false when too many are waiting. */
function schedule(server: string, queued: QueuedPost): boolean {
  const queue = postQueues.get(server) ?? { inFlight: 0, waiting: [] };
  postQueues.set(server, queue);
  if (queue.inFlight < maxPostsInFlight) {
    run(server, queue, queued);
    return true;
  }
  if (queue.waiting.length >= maxQueuedPosts) return false;
  queue.waiting.push(queued);
  return true;
}

function run(server: string, queue: { inFlight: number; readonly waiting: QueuedPost[] }, queued: QueuedPost): void {
  queue.inFlight += 1;
  void queued.post().catch(() => undefined).finally(() => {
    queue.inFlight -= 1;
    for (let next = queue.waiting.shift(); next !== undefined; next = queue.waiting.shift()) {
      if (performance.now() < next.expiresAt) {
        run(server, queue, next);
        return;
      }
      log.api('an event to %s waited longer than its timeout for a connection: dropped', server);
    }
    if (queue.inFlight === 0) postQueues.delete(server);
  });
}

let lastNanos = 0n;

/** Nanoseconds since the epoch, distinct for every Event of the process. */
function uniqueNanos(): bigint {
  const now = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastNanos = now > lastNanos ? now : lastNanos + 1n;
  return lastNanos;
}

/** `<lease>.<hex nanoseconds>`, as client-go names Events; the lease part is cut to fit 253 characters. */
export function eventName(leaseName: string, nanos: bigint): string {
  const suffix = `.${nanos.toString(16)}`;
  const room = maxNameLength - suffix.length;
  // A DNS subdomain cut short is one again once no '-' or '.' ends it.
  return (leaseName.length <= room ? leaseName : leaseName.slice(0, room).replace(/[-.]+$/, '')) + suffix;
}

/** `text` cut to at most `maxBytes` of UTF-8 (the API counts bytes), never inside a character, ending with `mark` when cut. */
export function truncateUtf8(text: string, maxBytes: number, mark: string): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const room = new Uint8Array(maxBytes - Buffer.byteLength(mark));
  const { read } = new TextEncoder().encodeInto(text, room);
  return text.slice(0, read) + mark;
}

function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // not a Status
  }
  return body.slice(0, 200);
}
