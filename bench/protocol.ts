// What the benchmark and its worker processes tell each other: over the IPC channel for a
// Node worker, as one JSON object per line on stdin / stdout for the client-go worker (a Go
// program, `peers/client-go/`). Every timestamp is milliseconds since the epoch with
// sub-millisecond resolution (`performance.timeOrigin + performance.now()` in Node,
// `time.Now().UnixNano() / 1e6` in Go), comparable across processes on the same machine.

/**
 * The lock designs under test: leaselocker; polling, the Go leaselocker's algorithm written on
 * the same Node client; client-go, Kubernetes' tools/leaderelection itself, in Go.
 */
export type Design = 'leaselocker' | 'polling' | 'client-go';

export const designs: readonly Design[] = ['leaselocker', 'polling', 'client-go'];

/** Timing every design runs with (the defaults of all three). */
export interface LockTiming {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export const defaultTiming: LockTiming = Object.freeze({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });

/** Set by the benchmark in the worker's environment (`BENCH_WORKER`, JSON). */
export interface WorkerConfig<P> {
  readonly design: Design;
  /** `file:` URL of the compiled leaselocker the worker loads (unused by the client-go worker). */
  readonly libraryUrl: string;
  /** A KubeConfig as `KubeConfig.exportConfig()` prints it. */
  readonly kubeConfig: string;
  readonly namespace: string;
  /** The holder identity the worker's locker(s) write. */
  readonly identity: string;
  /** The worker exits by itself after this long, whatever happens. */
  readonly deadlineMs: number;
  readonly params: P;
}

/** One locker on one Lease, driven by commands. */
export interface ContenderParams {
  readonly lease: string;
}

/** Back-to-back lock() + unlock() on a Lease nobody else uses. */
export interface UncontendedParams {
  readonly lease: string;
  readonly warmupCycles: number;
  readonly maxCycles: number;
  readonly maxDurationMs: number;
}

/** Many Leases held by one process. */
export interface ScaleParams {
  readonly leasePrefix: string;
  readonly leases: number;
  /** How many lock() calls run at once while acquiring. */
  readonly concurrency: number;
  /** Held before the measurement starts, so acquisition does not count. */
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly retryPeriodMs: number;
}

export type WorkerCommand =
  | { readonly type: 'lock' }
  | { readonly type: 'unlock' }
  /**
   * Contend on its own: lock(), hold `holdMs`, unlock(), lock() again at once, reporting each
   * step as the commands above do, until `untilAt` (wall clock, ms) or 'stop'. In the worker,
   * so that no round trip to the benchmark sits between an unlock() and the next lock().
   */
  | { readonly type: 'loop'; readonly holdMs: number; readonly untilAt: number }
  /** Unlock if holding, then exit. */
  | { readonly type: 'stop' };

export interface UncontendedResult {
  readonly cycleMs: readonly number[];
  readonly lockMs: readonly number[];
  readonly unlockMs: readonly number[];
  /** Wall time of the measured cycles. */
  readonly elapsedMs: number;
}

export interface ScaleResult {
  readonly leases: number;
  readonly acquireMs: number;
  readonly measuredMs: number;
  /** process.cpuUsage() over the measurement, user + system. */
  readonly cpuMs: number;
  /** Highest RSS sampled every 100 ms during the measurement. */
  readonly peakRssWindowBytes: number;
  /** The process's lifetime peak (`resourceUsage().maxRSS`), acquisition included. */
  readonly maxRssBytes: number;
  /** For each renewal in the window: its start minus (the previous renewal's start + retryPeriod). */
  readonly latenessMs: readonly number[];
  readonly renewals: number;
  readonly lost: number;
}

export type WorkerMessage =
  | { readonly type: 'ready'; readonly at: number }
  /** lock() was called. */
  | { readonly type: 'locking'; readonly at: number }
  /** lock() resolved. */
  | { readonly type: 'acquired'; readonly at: number }
  /** About to call unlock(). */
  | { readonly type: 'unlocking'; readonly at: number }
  | { readonly type: 'released'; readonly at: number; readonly released: boolean }
  /** A renewal succeeded; `startedAt` is when it started (wall clock, ms). */
  | { readonly type: 'renewed'; readonly at: number; readonly startedAt: number }
  | { readonly type: 'lost'; readonly at: number; readonly reason: string }
  /**
   * A Lease write (POST, PUT or PATCH) of the worker's own was answered with HTTP `status`
   * (0: no response). The polling and client-go contenders report these, so that the writes
   * counted at the server can be checked against what the clients sent (leaselocker does not
   * tell of its requests).
   */
  | { readonly type: 'wrote'; readonly at: number; readonly status: number }
  /** A 'loop' ended (its time was up): the worker holds nothing and waits for nothing. */
  | { readonly type: 'loop-ended'; readonly at: number }
  /** The scale worker holds every lease and starts measuring. */
  | { readonly type: 'measuring'; readonly at: number }
  | { readonly type: 'uncontended-result'; readonly at: number; readonly result: UncontendedResult }
  | { readonly type: 'scale-result'; readonly at: number; readonly result: ScaleResult }
  | { readonly type: 'failed'; readonly at: number; readonly message: string }
  /** The worker exits now. */
  | { readonly type: 'done'; readonly at: number; readonly code: number };

/** The clock every process stamps with. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
