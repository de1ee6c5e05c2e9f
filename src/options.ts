import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { InvalidConfigError } from './errors.js';

/**
 * Options of a {@link LeaseLocker}. Timing follows client-go's leader election: a holder renews
 * every `retryPeriodMs`, gives the lock up as lost when no renewal succeeded for
 * `renewDeadlineMs`, and others take it over once they have seen no change for
 * `leaseDurationMs`. Required: `leaseDurationMs > renewDeadlineMs > 1.2 × retryPeriodMs > 0`.
 */
export interface LeaseLockerOptions {
  /**
   * How long others wait, after they last saw the lease change, before they take it over from
   * a holder that stopped renewing. Stored in the Lease in whole seconds, so it must be a
   * multiple of 1000. The gap `leaseDurationMs - renewDeadlineMs` is the margin that absorbs
   * clock rate differences between processes and the delay of the last renewal: the holder
   * declares the lock lost at `renewDeadlineMs` at the latest, strictly before anyone else may
   * take it. Short values hand a crashed holder's lock over sooner.
   * @default 15000
   */
  readonly leaseDurationMs?: number;
  /**
   * How long after its last successful renewal a holder keeps trying to renew before it
   * declares the lock lost (aborting `signal` and emitting `'lost'`). Must be less than
   * `leaseDurationMs` and more than 1.2 × `retryPeriodMs`, so at least one retry fits.
   * @default 10000
   */
  readonly renewDeadlineMs?: number;
  /**
   * The pause between renewals while holding. A waiter normally watches the Lease and needs
   * no polling; when it cannot watch (no `list`/`watch` permission, or the watch keeps failing)
   * it polls at this period, plus up to 20 % random jitter so waiters do not all hit the server
   * at once.
   * @default 2000
   */
  readonly retryPeriodMs?: number;
  /**
   * For how long `unlockWithRetry()` keeps retrying a release that fails with a transient error.
   * @default 10000
   */
  readonly unlockWithRetryPeriodMs?: number;
  /**
   * The timeout of each API request. A renewal's request is also cut off when the renew
   * deadline comes first.
   * @default 5000
   */
  readonly requestTimeoutMs?: number;
  /**
   * When `signal` aborts while holding: release the lease (true) or leave it to expire (false).
   * Releasing lets others in at once, but only do it if every piece of guarded work stops when
   * the locker's `signal` aborts; otherwise two processes may act at the same time.
   * @default false
   */
  readonly releaseOnCancel?: boolean;
  /**
   * Judge another holder's expiry from the moment this process last saw the lease change, on
   * its own monotonic clock (true, tolerant to any clock offset between machines), or from the
   * holder's written `renewTime` compared with this process's wall clock (false: a contender
   * whose clock runs ahead takes the lease early).
   * @default true
   */
  readonly useObservedTime?: boolean;
  /**
   * Record each acquisition, release and loss as a Kubernetes Event (`events.k8s.io/v1`) about
   * the Lease, with reason `LeaseAcquired`, `LeaseReleased` or `LeaseLost` (type Warning) and a
   * note naming the identity, for `kubectl describe lease` and `kubectl events`. Needs RBAC
   * permission to `create` `events` in API group `events.k8s.io` in the Lease's namespace, and a
   * KubeConfig (not a `CoordinationV1Api`). Best effort, never delaying nor failing the lock:
   * each Event is posted once in the background, within `requestTimeoutMs`; 25 of a type in a
   * burst, then one per five minutes (as client-go's spam filter); failures are only logged
   * (under `leaselocker:api`). After a 403 a process warning (code `LEASELOCKER_EVENTS`) is
   * emitted once and no more Events are posted. For a locker built over a `ResourceLock`, set it
   * on the `LeaseLock` instead.
   * @default false
   */
  readonly recordEvents?: boolean;
  /**
   * A name for logs and error messages.
   * @default "<namespace>/<name>: <owner>"
   */
  readonly name?: string;
  /**
   * The locker's lifetime. When it aborts, a pending `lock()` rejects with its reason,
   * renewal stops, the hold's `signal` aborts, and the lease is released if `releaseOnCancel`,
   * else left to expire.
   * @default undefined (lives until disposed)
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * The time source, injectable for tests.
   * @default systemClock (performance.now() and Date.now())
   */
  readonly clock?: Clock;
}

/** The options after defaults, as the locker uses them. */
export interface ResolvedOptions {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly unlockWithRetryPeriodMs: number;
  readonly requestTimeoutMs: number;
  readonly releaseOnCancel: boolean;
  readonly useObservedTime: boolean;
  readonly recordEvents: boolean;
  readonly name: string;
  readonly signal: AbortSignal | undefined;
  readonly clock: Clock;
}

/** Defaults of every option that has one. The README's options table is checked against these. */
export const defaultOptions = Object.freeze({
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  unlockWithRetryPeriodMs: 10_000,
  requestTimeoutMs: 5_000,
  releaseOnCancel: false,
  useObservedTime: true,
  recordEvents: false,
});

/** Every option name, defaulted or not. */
export const optionNames: readonly string[] = Object.freeze([...Object.keys(defaultOptions), 'name', 'signal', 'clock']);
const knownOptions = new Set(optionNames);

/** Merges `options` over the defaults and validates them; throws {@link InvalidConfigError} naming the first bad option. */
export function resolveOptions(options: LeaseLockerOptions | undefined, defaultName: string): ResolvedOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidConfigError('options', 'must be an object');
  }
  for (const key of Object.keys(options ?? {})) {
    if (!knownOptions.has(key)) throw new InvalidConfigError(key, 'is not a LeaseLocker option');
  }
  const merged = { ...defaultOptions, ...withoutUndefined(options ?? {}) };
  for (const key of ['leaseDurationMs', 'renewDeadlineMs', 'retryPeriodMs', 'unlockWithRetryPeriodMs', 'requestTimeoutMs'] as const) {
    positiveInteger(key, merged[key]);
  }
  for (const key of ['releaseOnCancel', 'useObservedTime', 'recordEvents'] as const) {
    if (typeof merged[key] !== 'boolean') throw new InvalidConfigError(key, `must be a boolean, got ${describe(merged[key])}`);
  }
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = merged;
  if (leaseDurationMs % 1000 !== 0) {
    throw new InvalidConfigError('leaseDurationMs', `must be whole seconds (a multiple of 1000), as the Lease stores it; got ${leaseDurationMs}`);
  }
  if (!(leaseDurationMs > renewDeadlineMs)) {
    throw new InvalidConfigError('leaseDurationMs', `must be greater than renewDeadlineMs (${renewDeadlineMs}); got ${leaseDurationMs}`);
  }
  if (!(renewDeadlineMs > 1.2 * retryPeriodMs)) {
    throw new InvalidConfigError('renewDeadlineMs', `must be greater than 1.2 × retryPeriodMs (${1.2 * retryPeriodMs}); got ${renewDeadlineMs}`);
  }
  const name = options?.name ?? defaultName;
  if (typeof name !== 'string' || name === '') throw new InvalidConfigError('name', 'must be a non-empty string');
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidConfigError('signal', 'must be an AbortSignal');
  const clock = options?.clock ?? systemClock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function' || typeof clock.wallTime !== 'function' || typeof clock.sleep !== 'function') {
    throw new InvalidConfigError('clock', 'must have now(), wallTime() and sleep(ms, signal)');
  }
  return Object.freeze({ ...merged, name, signal, clock });
}

function positiveInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidConfigError(field, `must be a positive whole number of milliseconds, got ${describe(value)}`);
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
