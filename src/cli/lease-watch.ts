import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseApiError } from '../index.js';
import type { LeaseLock, LeaseSnapshot } from '../index.js';
import { cliLog } from './log.js';

/** What {@link watchLease} reports: the Lease as it now is (undefined: it does not exist), or why it cannot be read. */
export type LeaseState =
  | { readonly kind: 'lease'; readonly snapshot: LeaseSnapshot | undefined }
  | { readonly kind: 'error'; readonly error: unknown };

/**
 * Follows a Lease until `signal` aborts, for a display: lists it, then watches it from the
 * list's version, resuming where the stream ended and listing again when the server forgets
 * that version (410). While it cannot read the Lease it reports the error and tries again every
 * `retryPeriodMs`. Never rejects; resolves once `signal` aborted and nothing is left open.
 */
export async function watchLease(lock: LeaseLock, onState: (state: LeaseState) => void, retryPeriodMs: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const { snapshot, version } = await lock.list({ signal });
      onState({ kind: 'lease', snapshot });
      const watch = lock.watch;
      if (watch === undefined) {
        await sleep(retryPeriodMs, undefined, { signal });
        continue;
      }
      let from = version;
      for (;;) {
        const openedAt = performance.now();
        await watch(from, {
          onOpen: () => undefined,
          onEvent: (event) => {
            from = event.version;
            if (event.type === 'change') onState({ kind: 'lease', snapshot: event.snapshot });
          },
        }, { signal });
        // The server ended the stream: resume, but do not spin on one that ends at once.
        if (performance.now() - openedAt < retryPeriodMs) await sleep(retryPeriodMs, undefined, { signal });
      }
    } catch (error) {
      if (signal.aborted) break;
      if (error instanceof LeaseApiError && error.statusCode === 410) continue; // list again
      cliLog('reading %s failed: %s', lock.describe(), error instanceof Error ? error.message : String(error));
      onState({ kind: 'error', error });
      await sleep(retryPeriodMs, undefined, { signal }).catch(() => undefined);
    }
  }
}
