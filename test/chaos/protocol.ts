// What the chaos harness and its worker processes tell each other over IPC, and the clock
// they share: every instant is `performance.timeOrigin + performance.now()` in the process
// that took it, in milliseconds, so instants of different processes are comparable.
import { performance } from 'node:perf_hooks';

/** An instant on the clock all processes of a run share. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The timing every worker's locker runs with (the Lease stores whole seconds). */
export interface ChaosTimings {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly requestTimeoutMs: number;
}

/** Passed to a worker in the CHAOS_WORKER environment variable, as JSON. */
export interface WorkerConfig {
  /** Unique per process: also the locker's owner identity. */
  readonly id: string;
  /** The kubeconfig (JSON) that points the worker at its fault proxy. */
  readonly kubeConfig: string;
  readonly namespace: string;
  readonly lease: string;
  readonly timings: ChaosTimings;
  /** Seeds the worker's own choices (section length, pauses, self-inflicted crashes). */
  readonly seed: number;
  /** Chance per critical section that the worker crashes inside it instead of unlocking. */
  readonly crashChance: number;
  /** Chance per critical section that it lasts 1–5 s (writing every 50–200 ms) instead of tens of ms. */
  readonly longSectionChance: number;
}

/** Worker → harness. */
export type WorkerMessage =
  | { readonly type: 'ready'; readonly at: number; readonly holdCheck: 'assertHeld' | 'isLocked' }
  /** lock() resolved: `at` from the 'acquired' event (or right after lock() when earlier). */
  | {
      readonly type: 'acquired';
      readonly section: number;
      readonly token: number;
      readonly at: number;
      /** How long the section means to last (0: a short one). */
      readonly plannedMs: number;
    }
  /**
   * A write to the fenced resource. `believedHeld`: the hold check passed right before it
   * (at `checkedAt`); false for the probe a worker sends with its old token after a loss.
   */
  | {
      readonly type: 'write';
      readonly id: number;
      readonly section: number;
      readonly token: number;
      readonly checkedAt: number;
      readonly believedHeld: boolean;
    }
  /** The hold's signal aborted (any reason, `released` included), stamped in its listener. */
  | { readonly type: 'aborted'; readonly section: number; readonly at: number; readonly reason: string }
  /** The section is over: how it ended, and when unlock() began and settled. */
  | {
      readonly type: 'ended';
      readonly section: number;
      readonly outcome: 'unlocked' | 'lost';
      readonly unlockAt?: number;
      /** When unlock() settled. */
      readonly settledAt?: number;
      readonly released?: boolean;
      readonly unlockError?: string;
    }
  /** Something a correct library should not do (lock() rejecting under retryable faults, ...). */
  | { readonly type: 'anomaly'; readonly at: number; readonly message: string }
  /** The worker is about to crash on purpose. */
  | { readonly type: 'crashing'; readonly at: number };

/** Harness → worker. */
export type HarnessMessage =
  | { readonly type: 'write-result'; readonly id: number; readonly accepted: boolean }
  /** Stop: abort a pending lock(), unlock a hold, then exit by itself. */
  | { readonly type: 'stop' };
