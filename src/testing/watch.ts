// Watch streams as the API server's watch cache serves them: headers flushed at
// once, newline-delimited JSON events, resume from a revision or a 410 when it
// is compacted, bookmarks, and an end after timeoutSeconds.

import type { ServerResponse } from 'node:http';

import { goJson } from './http-io.js';
import type { LeaseObject } from './lease-object.js';
import type { LeaseEvent, LeaseStore } from './lease-store.js';
import type { LeaseMatcher } from './selectors.js';
import { expired, LEASE_API_VERSION, type Status } from './status.js';

/** The server sends a last bookmark this long before a watch's timeout. */
const BOOKMARK_BEFORE_TIMEOUT_MS = 2000;

/** What one watch asks for. */
export interface WatchParameters {
  /** The namespace of the path; undefined for a cluster-wide watch. */
  readonly namespace: string | undefined;
  readonly matches: LeaseMatcher;
  /** `resourceVersion`: empty or "0" for "current state, then changes", else a decimal revision. */
  readonly resourceVersion: string;
  readonly allowBookmarks: boolean;
  readonly sendInitialEvents: boolean;
  readonly timeoutSeconds: number | undefined;
  /** Headers every response carries (Audit-Id, Cache-Control). */
  readonly headers: Readonly<Record<string, string>>;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** The open watches of one emulator. */
export class WatchHub {
  readonly #store: LeaseStore;
  readonly #bookmarkIntervalMs: number;
  readonly #onChange: () => void;
  readonly #streams = new Set<WatchStream>();

  constructor(store: LeaseStore, bookmarkIntervalMs: number, onChange: () => void) {
    this.#store = store;
    this.#bookmarkIntervalMs = bookmarkIntervalMs;
    this.#onChange = onChange;
  }

  /** Number of open watches. */
  get size(): number {
    return this.#streams.size;
  }

  /** Starts streaming to `response`. */
  open(response: ServerResponse, parameters: WatchParameters): void {
    const stream = new WatchStream(response, parameters, this.#store, this.#bookmarkIntervalMs, () => {
      this.#streams.delete(stream);
      this.#onChange();
    });
    this.#streams.add(stream);
    this.#onChange();
    stream.start();
  }

  /** Ends every open watch; `abrupt` resets the connections instead. Returns how many were open. */
  drop(abrupt: boolean): number {
    const streams = [...this.#streams];
    for (const stream of streams) stream.stop(abrupt);
    return streams.length;
  }
}

class WatchStream {
  readonly #response: ServerResponse;
  readonly #parameters: WatchParameters;
  readonly #store: LeaseStore;
  readonly #bookmarkIntervalMs: number;
  readonly #onClosed: () => void;
  readonly #timers: NodeJS.Timeout[] = [];
  #unsubscribe: (() => void) | undefined;
  /**
   * The revision the watch starts from: events at or below it were covered
   * (or, for a revision not reached yet, are skipped), and a bookmark is only
   * sent once the store is past it.
   */
  #after = -1;
  #closed = false;

  constructor(
    response: ServerResponse,
    parameters: WatchParameters,
    store: LeaseStore,
    bookmarkIntervalMs: number,
    onClosed: () => void,
  ) {
    this.#response = response;
    this.#parameters = parameters;
    this.#store = store;
    this.#bookmarkIntervalMs = bookmarkIntervalMs;
    this.#onClosed = onClosed;
  }

  start(): void {
    const response = this.#response;
    response.once('close', () => this.#cleanup());
    response.writeHead(200, { ...this.#parameters.headers, 'Content-Type': 'application/json' });
    // A client that waits for headers before it returns (client-node's Watch
    // does) must not wait for the first event.
    response.flushHeaders();

    const { resourceVersion, sendInitialEvents } = this.#parameters;
    if (resourceVersion === '' || resourceVersion === '0' || sendInitialEvents) {
      this.#sendCurrentState();
    } else {
      const revision = Number(resourceVersion);
      if (revision > this.#store.revision) {
        // No error and no wait: changes up to that revision are simply not sent.
        this.#after = revision;
      } else {
        const history = this.#store.eventsAfter(revision);
        if (!history.ok) {
          this.#fail(expired(`too old resource version: ${resourceVersion} (${history.oldestAvailable})`));
          return;
        }
        this.#after = revision;
        for (const event of history.events) this.#deliver(event);
      }
    }
    // Synchronous from the list or history above to here: no write can slip in between.
    this.#unsubscribe = this.#store.subscribe((event) => this.#deliver(event));
    this.#scheduleBookmarks();
  }

  /** Ends the stream: cleanly, or by resetting the connection. */
  stop(abrupt: boolean): void {
    if (abrupt) this.#response.destroy();
    else this.#response.end();
    this.#cleanup();
  }

  #sendCurrentState(): void {
    this.#after = this.#store.revision;
    for (const lease of this.#store.list(this.#parameters.namespace)) {
      if (this.#parameters.matches(lease)) this.#send('ADDED', lease);
    }
    // The watch cache ends the initial events with a bookmark for every client
    // that takes bookmarks, whether or not it asked for sendInitialEvents.
    if (this.#parameters.allowBookmarks) this.#sendBookmark({ 'k8s.io/initial-events-end': 'true' });
  }

  #deliver(event: LeaseEvent): void {
    if (event.revision <= this.#after) return;
    const now = this.#selects(event.object);
    const before = event.previous !== undefined && this.#selects(event.previous);
    switch (event.type) {
      case 'ADDED':
        if (now) this.#send('ADDED', event.object);
        return;
      case 'MODIFIED':
        // An object moving into or out of a label selector appears or disappears.
        if (now && before) this.#send('MODIFIED', event.object);
        else if (now) this.#send('ADDED', event.object);
        else if (before) this.#send('DELETED', event.object);
        return;
      case 'DELETED':
        if (before) this.#send('DELETED', event.object);
        return;
    }
  }

  #selects(lease: LeaseObject): boolean {
    const { namespace, matches } = this.#parameters;
    return (namespace === undefined || lease.metadata.namespace === namespace) && matches(lease);
  }

  #scheduleBookmarks(): void {
    const { allowBookmarks, timeoutSeconds } = this.#parameters;
    if (allowBookmarks && this.#bookmarkIntervalMs > 0) {
      this.#timers.push(setInterval(() => this.#sendProgressBookmark(), this.#bookmarkIntervalMs));
    }
    if (timeoutSeconds !== undefined) {
      const timeoutMs = timeoutSeconds * 1000;
      if (allowBookmarks && timeoutMs > BOOKMARK_BEFORE_TIMEOUT_MS) {
        this.#timers.push(setTimeout(() => this.#sendProgressBookmark(), timeoutMs - BOOKMARK_BEFORE_TIMEOUT_MS));
      }
      this.#timers.push(setTimeout(() => this.stop(false), timeoutMs));
    }
  }

  /** A periodic or pre-timeout bookmark: only when there is progress past the start to report. */
  #sendProgressBookmark(): void {
    if (this.#store.revision > this.#after) this.#sendBookmark();
  }

  /** A bookmark is an empty Lease: its spec is `{}`, its metadata only the revision (and annotations). */
  #sendBookmark(annotations?: Record<string, string>): void {
    const metadata: Record<string, unknown> = { resourceVersion: String(this.#store.revision) };
    if (annotations !== undefined) metadata['annotations'] = annotations;
    this.#send('BOOKMARK', { kind: 'Lease', apiVersion: LEASE_API_VERSION, metadata, spec: {} });
  }

  /** Sends one ERROR event and ends the stream, as the server's error watcher does. */
  #fail(status: Status): void {
    this.#send('ERROR', status);
    this.stop(false);
  }

  #send(type: EventType, object: unknown): void {
    if (this.#closed || this.#response.writableEnded || this.#response.destroyed) return;
    this.#response.write(`${goJson({ type, object })}\n`);
  }

  #cleanup(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.length = 0;
    this.#onClosed();
  }
}
