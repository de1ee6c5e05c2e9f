// The baseline: the Go leaselocker's algorithm (client-go leader election's
// tryAcquireOrRenew), written straight on CoordinationV1Api.
//
// - lock(): try at once, then every retryPeriod × random[1, 2.2) (wait.JitterUntil, jitter
//   factor 1.2) until acquired.
// - Every attempt and every renewal is a GET followed by a PUT conditional on the
//   resourceVersion read. A lease held by someone else is live while its holder's
//   renewTime + leaseDurationSeconds is ahead of our local clock.
// - Renewal rounds run retryPeriod after the previous round ended (wait.Until is sliding);
//   a round that has not succeeded within renewDeadline loses the lock.
// - unlock(): GET, then PUT holderIdentity "" with leaseDurationSeconds 1 if still ours.
// - Connections are reused, as client-go reuses them, through the same keep-alive agent the
//   library uses (src/keep-alive-agent.ts), so the comparison is between the two designs, not
//   between two HTTP clients.
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiException, CoordinationV1Api, Observable, V1MicroTime } from '@kubernetes/client-node';
import type { ConfigurationOptions, KubeConfig, RequestContext, ResponseContext, V1Lease } from '@kubernetes/client-node';
import { keepAliveAgentFor } from '../src/keep-alive-agent.js';
import type { LockTiming } from './protocol.js';
import { defaultTiming } from './protocol.js';

export interface PollingLockerOptions extends Partial<LockTiming> {
  readonly requestTimeoutMs?: number;
}

export interface PollingLockerEvents {
  acquired: [];
  /** `startedAt`: wall-clock ms when the renewal round began (before its GET). */
  renewed: [event: { readonly renewTime: Date; readonly startedAt: number }];
  lost: [error: Error];
}

const jitterFactor = 1.2;

export class PollingLocker extends EventEmitter<PollingLockerEvents> {
  readonly #api: CoordinationV1Api;
  readonly #kubeConfig: KubeConfig;
  readonly #namespace: string;
  readonly #name: string;
  readonly #identity: string;
  readonly #timing: LockTiming;
  readonly #requestTimeoutMs: number;
  #held = false;
  #stopRenewal: AbortController | undefined;
  #renewing: Promise<void> = Promise.resolve();

  constructor(kubeConfig: KubeConfig, lease: { readonly namespace: string; readonly name: string }, identity: string, options: PollingLockerOptions = {}) {
    super();
    this.#api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.#kubeConfig = kubeConfig;
    this.#namespace = lease.namespace;
    this.#name = lease.name;
    this.#identity = identity;
    this.#timing = { ...defaultTiming, ...options };
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
  }

  get isLocked(): boolean {
    return this.#held;
  }

  async lock(options: { readonly signal?: AbortSignal | undefined } = {}): Promise<void> {
    const { signal } = options;
    for (;;) {
      signal?.throwIfAborted();
      if (await this.#tryAcquireOrRenew(signal)) break;
      const pauseMs = this.#timing.retryPeriodMs * (1 + Math.random() * jitterFactor);
      await delay(pauseMs, undefined, signal === undefined ? undefined : { signal });
    }
    this.#held = true;
    this.#startRenewal();
    this.emit('acquired');
  }

  /** Resolves true when the lease was ours and is now released. */
  async unlock(): Promise<boolean> {
    if (!this.#held) return false;
    this.#held = false;
    this.#stopRenewal?.abort();
    await this.#renewing;
    const lease = await this.#get();
    if (lease?.spec?.holderIdentity !== this.#identity) return false;
    const now = new V1MicroTime(Date.now());
    const spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
    await this.#call((config) => this.#api.replaceNamespacedLease({ namespace: this.#namespace, name: this.#name, body: { ...lease, spec } }, config));
    return true;
  }

  #startRenewal(): void {
    const stop = new AbortController();
    this.#stopRenewal = stop;
    this.#renewing = this.#renewLoop(stop.signal).catch((error: unknown) => {
      if (stop.signal.aborted) return;
      this.#held = false;
      this.emit('lost', error instanceof Error ? error : new Error(String(error)));
    });
  }

  async #renewLoop(stop: AbortSignal): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.#timing;
    for (;;) {
      try {
        await delay(retryPeriodMs, undefined, { signal: stop });
      } catch {
        return;
      }
      // One round: retry every retryPeriod until renewed or renewDeadline passed (PollImmediateUntil).
      const startedAt = Date.now();
      const deadline = performance.now() + renewDeadlineMs;
      for (;;) {
        const renewTime = await this.#renewOnce(stop);
        if (stop.aborted) return;
        if (renewTime !== undefined) {
          this.emit('renewed', { renewTime, startedAt });
          break;
        }
        if (performance.now() + retryPeriodMs > deadline) throw new Error('renew deadline passed');
        await delay(retryPeriodMs, undefined, { signal: stop }).catch(() => undefined);
      }
    }
  }

  /** One renewal attempt; the renewTime written, or undefined when it failed and may be retried. */
  async #renewOnce(stop: AbortSignal): Promise<Date | undefined> {
    try {
      const lease = await this.#get(stop);
      const holder = lease?.spec?.holderIdentity ?? '';
      if (lease !== undefined && holder !== this.#identity) throw new LostError(`lease taken by ${holder === '' ? 'nobody (released)' : holder}`);
      return await this.#write(lease, stop);
    } catch (error) {
      if (error instanceof LostError) throw error;
      return undefined;
    }
  }

  /** client-go's tryAcquireOrRenew: GET; create if absent; else PUT over it unless someone else holds a live lease. */
  async #tryAcquireOrRenew(signal: AbortSignal | undefined): Promise<boolean> {
    try {
      const lease = await this.#get(signal);
      if (lease === undefined) return (await this.#write(undefined, signal)) !== undefined;
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      // client-node types renewTime as a Date but hands over the JSON string.
      const renewedAt = spec.renewTime === undefined ? Number.NaN : new Date(spec.renewTime).getTime();
      const live = renewedAt + (spec.leaseDurationSeconds ?? 0) * 1000 > Date.now();
      if (holder !== '' && holder !== this.#identity && live) return false;
      return (await this.#write(lease, signal)) !== undefined;
    } catch {
      // 409 (lost a race) or any failure: try again next period, as client-go does.
      signal?.throwIfAborted();
      return false;
    }
  }

  /** Creates the lease, or writes us as holder over `lease`; the renewTime written. Rejects on any failure. */
  async #write(lease: V1Lease | undefined, signal: AbortSignal | undefined): Promise<Date> {
    const now = new V1MicroTime(Date.now());
    const spec = lease?.spec ?? {};
    const ours = lease !== undefined && spec.holderIdentity === this.#identity;
    const body: V1Lease = {
      ...lease,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...lease?.metadata, name: this.#name, namespace: this.#namespace },
      spec: {
        ...spec,
        holderIdentity: this.#identity,
        leaseDurationSeconds: Math.ceil(this.#timing.leaseDurationMs / 1000),
        acquireTime: ours && spec.acquireTime !== undefined ? new V1MicroTime(new Date(spec.acquireTime).getTime()) : now,
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (ours || lease === undefined ? 0 : 1),
      },
    };
    const namespace = this.#namespace;
    if (lease === undefined) await this.#call((config) => this.#api.createNamespacedLease({ namespace, body }, config), signal);
    else await this.#call((config) => this.#api.replaceNamespacedLease({ namespace, name: this.#name, body }, config), signal);
    return now;
  }

  async #get(signal?: AbortSignal): Promise<V1Lease | undefined> {
    try {
      return await this.#call((config) => this.#api.readNamespacedLease({ namespace: this.#namespace, name: this.#name }, config), signal);
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  /**
   * One request with the per-request timeout (client-node has no timeout option: abort through
   * a middleware) over a reused connection.
   */
  async #call<T>(run: (config: ConfigurationOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const agent = await keepAliveAgentFor(this.#kubeConfig);
    // A controller per request rather than AbortSignal.any(): no listener piles up on long-lived signals.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#requestTimeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await run({
        middleware: [{
          pre: (context: RequestContext) => {
            context.setSignal(controller.signal);
            if (agent !== undefined) context.setAgent(agent);
            return new Observable(Promise.resolve(context));
          },
          post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
        }],
        middlewareMergeStrategy: 'append',
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

class LostError extends Error {}
