import { linkSignals } from './abort.js';
import { InvalidConfigError, LockLostError } from './errors.js';
import type { Hold } from './hold.js';
import type { HolderChangedEvent } from './lease-locker.js';
import { LeaseLocker } from './lease-locker.js';
import { log } from './log.js';

/** Options of {@link runLeaderElection}: client-go's `LeaderCallbacks`, plus the signal that ends the election. */
export interface LeaderElectionOptions {
  /**
   * Ends the election: a pending `lock()` stops, a running `onStartedLeading` gets its signal
   * aborted, and once it has settled the lease is released.
   */
  readonly signal: AbortSignal;
  /**
   * Runs while this process leads. `signal` aborts when leadership is lost (its reason is the
   * {@link LockLostError}) or the election's `signal` aborts (its reason); stop the work then.
   * Nothing else runs `onStartedLeading` again before this call has settled, so this process
   * never runs two at once. When it resolves by itself the lease is released and the election
   * ends; when it rejects before its signal aborted, the lease is released and
   * {@link runLeaderElection} rejects with the same error (a rejection after the abort is how
   * work stops, and is not an error).
   */
  readonly onStartedLeading: (signal: AbortSignal, hold: Hold) => Promise<void> | void;
  /**
   * Called each time leading ends (lost, the election ended, or `onStartedLeading` returned),
   * after `onStartedLeading` settled and the release was attempted.
   * @default undefined
   */
  readonly onStoppedLeading?: ((event: StoppedLeadingEvent) => void) | undefined;
  /**
   * Called when the leader seen on the lease changes to another identity, this one included:
   * from the locker's own watch and writes, at no extra request (see `LeaseLocker.holder`).
   * @default undefined
   */
  readonly onNewLeader?: ((identity: string) => void) | undefined;
}

/** Argument of `onStoppedLeading`. */
export interface StoppedLeadingEvent {
  /** Why leading ended: the loss, or `undefined` when the election ended or the work returned. */
  readonly lost: LockLostError | undefined;
}

/**
 * Leader election over a {@link LeaseLocker}, as client-go's `LeaderElector.Run` but competing
 * again after a loss until `signal` aborts: waits for the lease, runs `onStartedLeading` while
 * holding it, stops it when the hold is lost, and competes again. Built on the locker's own
 * `lock()`: the same loop, the same watch, no extra request.
 *
 * Resolves when the election ended (`signal` aborted, or `onStartedLeading` returned by
 * itself), after the work stopped and the lease was released. Rejects with what
 * `onStartedLeading` threw, or with an error `lock()` cannot retry (e.g. 403 Forbidden).
 *
 * @example
 * ```ts
 * const stop = new AbortController();
 * process.once('SIGTERM', () => stop.abort()); // a rolling update hands over at once
 * await runLeaderElection(locker, {
 *   signal: stop.signal,
 *   onStartedLeading: async (signal) => runController({ signal }),
 *   onNewLeader: (identity) => console.log(`leader: ${identity}`),
 * });
 * ```
 * @throws InvalidConfigError when an argument is invalid, before any request.
 */
export async function runLeaderElection(locker: LeaseLocker, options: LeaderElectionOptions): Promise<void> {
  if (!(locker instanceof LeaseLocker)) throw new InvalidConfigError('locker', 'must be a LeaseLocker');
  const { signal, onStartedLeading, onStoppedLeading, onNewLeader } = options;
  if (!(signal instanceof AbortSignal)) throw new InvalidConfigError('signal', 'must be an AbortSignal: it ends the election');
  if (typeof onStartedLeading !== 'function') throw new InvalidConfigError('onStartedLeading', 'must be a function');
  if (onStoppedLeading !== undefined && typeof onStoppedLeading !== 'function') throw new InvalidConfigError('onStoppedLeading', 'must be a function');
  if (onNewLeader !== undefined && typeof onNewLeader !== 'function') throw new InvalidConfigError('onNewLeader', 'must be a function');

  let reported: string | undefined;
  const report = (holder: string | undefined): void => {
    if (holder === undefined || holder === reported) return;
    reported = holder;
    onNewLeader?.(holder);
  };
  const onHolderChanged = (event: HolderChangedEvent): void => report(event.holder);
  locker.on('holderChanged', onHolderChanged);
  try {
    report(locker.holder);
    while (!signal.aborted) {
      let hold: Hold;
      try {
        hold = await locker.lock({ signal });
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      const leading = linkSignals(hold.signal, signal);
      let failure: { error: unknown } | undefined;
      try {
        await onStartedLeading(leading.signal, hold);
      } catch (error) {
        // Work that stops by throwing once its signal aborted (an AbortError) stopped as asked.
        if (leading.signal.aborted) log.state('%s: the leading work stopped with %O', locker.identity, error);
        else failure = { error };
      } finally {
        leading.dispose();
      }
      try {
        hold.assertHeld(); // declares a loss whose deadline passed while the event loop was blocked
      } catch {
        // lost or released: read from its signal below
      }
      const reason: unknown = hold.signal.aborted ? hold.signal.reason : undefined;
      const lost = reason instanceof LockLostError && reason.reason !== 'released' ? reason : undefined;
      // The work has stopped: only now may anyone else lead. A lost hold is released too when
      // the lease may still name us (a renew-deadline loss), on condition nobody wrote since;
      // a hold the work released early is not released again, nor a later one.
      await hold.release().catch((error: unknown) => {
        log.state('%s: release after leading failed: %O', locker.identity, error);
      });
      onStoppedLeading?.({ lost });
      if (failure !== undefined) throw failure.error;
      if (lost === undefined) return; // the election ended, or the work returned by itself
      log.state('%s: leadership lost (%s); competing again', locker.identity, lost.reason);
    }
  } finally {
    locker.off('holderChanged', onHolderChanged);
  }
}
