import { humanDuration } from './duration.js';
import { oneLine } from './failure.js';
import type { LeaseState } from './lease-watch.js';
import { shortTime } from './lease-view.js';

/** Where {@link WaitProgress} writes: stderr, normally. */
export interface ProgressStream {
  write(text: string): boolean;
  /** True on a terminal: then one live line is redrawn; else one line is logged per change. */
  readonly isTTY?: boolean | undefined;
  /** The terminal's width, to keep the live line on one row. */
  readonly columns?: number | undefined;
}

/** What a {@link WaitProgress} tells about. */
export interface ProgressOptions {
  /** `namespace/name`. */
  readonly lease: string;
  /** This run's identity: a lease showing it is ours, not someone else's. */
  readonly identity: string;
  /** The run's own lease duration: a waiter waits at least that long after the last change it saw. */
  readonly leaseDurationMs: number;
}

const redrawIntervalMs = 1000;

/**
 * Tells, while `run` waits, who holds the lease, since when, and when it expires: on a terminal
 * one line redrawn every second (and at every change), off a terminal one log line per change
 * of holder or of what can be told (renewals are not changes). All on `stream`, never stdout,
 * which belongs to the command.
 */
export class WaitProgress {
  readonly #stream: ProgressStream;
  readonly #options: ProgressOptions;
  readonly #live: boolean;
  #state: LeaseState | undefined;
  /** When the current record was first seen (monotonic), to count its expiry as the waiting locker does. */
  #seenAt = 0;
  #recordKey = '';
  #lastLogged = '';
  #shown = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #startedAt = performance.now();

  constructor(stream: ProgressStream, options: ProgressOptions) {
    this.#stream = stream;
    this.#options = options;
    this.#live = stream.isTTY === true;
  }

  /** True once something was shown: the run visibly waited. */
  get shown(): boolean {
    return this.#shown;
  }

  /** How long since the wait began, in milliseconds. */
  get waitedMs(): number {
    return performance.now() - this.#startedAt;
  }

  /** The last error met reading the Lease, when the last attempt failed. */
  get lastError(): unknown {
    return this.#state?.kind === 'error' ? this.#state.error : undefined;
  }

  /** Takes in the Lease's new state. */
  see(state: LeaseState): void {
    this.#state = state;
    if (state.kind === 'lease') {
      const record = state.snapshot?.record;
      const key = record === undefined ? 'absent' : `${record.holderIdentity} ${record.acquireTime?.getTime() ?? ''} ${record.renewTime?.getTime() ?? ''} ${record.leaseTransitions}`;
      if (key !== this.#recordKey) {
        this.#recordKey = key;
        this.#seenAt = performance.now();
      }
    }
    this.#show();
  }

  /** Ends the display: clears the live line, then writes `line` (if any) as a log line. */
  finish(line?: string): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#live && this.#shown) this.#stream.write('\r\x1b[K');
    if (line !== undefined) this.#stream.write(`leaselocker: ${line}\n`);
  }

  #show(): void {
    const text = this.#describe(this.#live ? 'live' : 'log');
    if (text === undefined) return;
    if (this.#live) {
      const columns = this.#stream.columns ?? 0;
      const width = columns >= 20 ? columns - 1 : 79; // a terminal of unknown size (0) gets 80 columns
      const line = `leaselocker: ${text}`;
      this.#stream.write(`\r\x1b[K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
      this.#shown = true;
      this.#timer ??= setInterval(() => this.#show(), redrawIntervalMs).unref();
      return;
    }
    // Off a terminal: a line per change of what can be told, without the countdown.
    const key = this.#describe('key') ?? '';
    if (key === this.#lastLogged) return;
    this.#lastLogged = key;
    this.#stream.write(`leaselocker: ${text}\n`);
    this.#shown = true;
  }

  /**
   * The line to show, or undefined when there is nothing to tell (the lease shows us). `live`:
   * the terminal's short form, with a running count; else the log line's form, and `key` leaves
   * out what changes at every renewal.
   */
  #describe(form: 'live' | 'log' | 'key'): string | undefined {
    const state = this.#state;
    // On a terminal the line stays short: the live line itself says that we wait.
    const prefix = form === 'live' ? this.#options.lease : `waiting for ${this.#options.lease}`;
    if (state === undefined) return undefined;
    if (state.kind === 'error') {
      const message = state.error instanceof Error ? state.error.message : String(state.error);
      return `${prefix}: cannot read the lease (${oneLine(message)}); retrying`;
    }
    const record = state.snapshot?.record;
    if (record === undefined) return `${prefix}: the Lease does not exist; creating it once any earlier hold has run out`;
    if (record.holderIdentity === this.#options.identity) return undefined;
    if (record.holderIdentity === '') return `${prefix}: released; taking it`;
    const acquired = record.acquireTime;
    const durationMs = Math.max(record.leaseDurationSeconds * 1000, this.#options.leaseDurationMs);
    const left = this.#seenAt + durationMs - performance.now();
    const expiry = left > 0 ? `expires in ${humanDuration(left)}` : 'expired; taking it';
    switch (form) {
      case 'key':
        return `${prefix}: held by ${record.holderIdentity}${acquired === undefined ? '' : ` since ${shortTime(acquired)}`}`;
      case 'log':
        return `${prefix}: held by ${record.holderIdentity}${acquired === undefined ? '' : ` since ${shortTime(acquired)}`}, ${expiry} unless renewed`;
      case 'live':
        return `${prefix}: held by ${record.holderIdentity}${acquired === undefined ? '' : ` since ${shortTime(acquired).slice(11)} (${humanDuration(Date.now() - acquired.getTime())})`}, ${expiry}`;
    }
  }
}
