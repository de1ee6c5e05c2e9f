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
// - Requests go through the library's own Lease adapter (LeaseLock: the same HTTP client, with
//   reused connections and per-request timeouts, as client-go reuses its connections), so the
//   comparison is between the two designs, not between two HTTP clients.
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeaseLock } from '../src/lease-lock.js';
import type { LeaseSnapshot } from '../src/lease-lock.js';
import type { LockRecord } from '../src/record.js';
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
  /** A Lease write (create or update) was answered with HTTP `status`, or 0 when it got no answer. */
  wrote: [status: number];
}

const jitterFactor = 1.2;

export class PollingLocker extends EventEmitter<PollingLockerEvents> {
  readonly #lock: LeaseLock;
  readonly #identity: string;
  readonly #timing: LockTiming;
  #held = false;
  #stopRenewal: AbortController | undefined;
  #renewing: Promise<void> = Promise.resolve();

  constructor(kubeConfig: KubeConfig, lease: { readonly namespace: string; readonly name: string }, identity: string, options: PollingLockerOptions = {}) {
    super();
    this.#lock = new LeaseLock(kubeConfig, lease, identity, { requestTimeoutMs: options.requestTimeoutMs ?? 5_000 });
    this.#identity = identity;
    this.#timing = { ...defaultTiming, ...options };
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
    const lease = await this.#lock.get();
    if (lease?.record.holderIdentity !== this.#identity) return false;
    const now = new Date();
    await this.#observed(this.#lock.update({ ...lease.record, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now }, lease));
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
      const lease = await this.#lock.get({ signal: stop });
      const holder = lease?.record.holderIdentity ?? '';
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
      const lease = await this.#lock.get({ signal });
      if (lease === undefined) return (await this.#write(undefined, signal)) !== undefined;
      const { holderIdentity: holder, renewTime, leaseDurationSeconds } = lease.record;
      const renewedAt = renewTime === undefined ? Number.NaN : renewTime.getTime();
      const live = renewedAt + leaseDurationSeconds * 1000 > Date.now();
      if (holder !== '' && holder !== this.#identity && live) return false;
      return (await this.#write(lease, signal)) !== undefined;
    } catch {
      // 409 (lost a race) or any failure: try again next period, as client-go does.
      signal?.throwIfAborted();
      return false;
    }
  }

  /** Creates the lease, or writes us as holder over `lease`; the renewTime written. Rejects on any failure. */
  async #write(lease: LeaseSnapshot | undefined, signal: AbortSignal | undefined): Promise<Date> {
    const now = new Date();
    const current = lease?.record;
    const ours = current !== undefined && current.holderIdentity === this.#identity;
    const record: LockRecord = {
      holderIdentity: this.#identity,
      leaseDurationSeconds: Math.ceil(this.#timing.leaseDurationMs / 1000),
      acquireTime: ours ? current.acquireTime ?? now : now,
      renewTime: now,
      leaseTransitions: (current?.leaseTransitions ?? 0) + (ours || current === undefined ? 0 : 1),
    };
    if (lease === undefined) await this.#observed(this.#lock.create(record, { signal }));
    else await this.#observed(this.#lock.update(record, lease, { signal }));
    return now;
  }

  /** A write's outcome, told as 'wrote' (the benchmark checks the server's counts against these). */
  async #observed<T>(write: Promise<T>): Promise<T> {
    try {
      const result = await write;
      this.emit('wrote', 200);
      return result;
    } catch (error) {
      const status = typeof error === 'object' && error !== null && 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 0;
      this.emit('wrote', status);
      throw error;
    }
  }
}

class LostError extends Error {}
