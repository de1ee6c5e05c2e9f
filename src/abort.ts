/** Small AbortSignal tools. Each cleans up its listener or timer when it settles. */

/** Rejects with `signal.reason` as soon as `signal` aborts, else settles like `promise`. */
export async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined); // the caller has stopped listening; don't leave an unhandled rejection
    throw signal.reason;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    promise.catch(() => undefined);
  }
}

/**
 * A signal that aborts when any of `signals` does (with that signal's reason); `undefined`
 * entries are skipped. Call `dispose()` when done: unlike `AbortSignal.any()`, nothing stays
 * attached to long-lived signals such as a hold's stop signal, however many times a loop links.
 */
export function linkSignals(...signals: Array<AbortSignal | undefined>): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  const aborted = present.find((s) => s.aborted);
  if (aborted !== undefined) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const listeners = present.map((source) => {
    const onAbort = (): void => controller.abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    return () => source.removeEventListener('abort', onAbort);
  });
  return { signal: controller.signal, dispose: () => { for (const remove of listeners) remove(); } };
}

/** Throws `signal.reason` when `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw signal.reason;
}
