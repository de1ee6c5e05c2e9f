// Fault injection: slow answers, error answers, requests that are never
// answered, watches cut off, and arbitrary hooks. Each fault matches requests
// by verb, namespace, lease name and user, and can be removed on its own.

import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

import { ADMIN_USER, forbiddenReason, type LeaseVerb } from './auth.js';
import { failure, forbidden, LEASE_GROUP, LEASE_RESOURCE, leaseNotFound, QUALIFIED_LEASE_KIND, staleConflict, type Status } from './status.js';

/** Which requests a fault applies to; every given field must match. */
export interface FaultMatch {
  /** Verb or verbs. @default every verb */
  readonly verb?: LeaseVerb | readonly LeaseVerb[];
  /** Lease name (a list or watch names one through a `metadata.name=` field selector). @default every name */
  readonly name?: string;
  /** Namespace. @default every namespace */
  readonly namespace?: string;
  /** Authenticated user. @default every user */
  readonly user?: string;
  /** How many matching requests the fault applies to before it removes itself. @default unlimited */
  readonly times?: number;
}

/** An error answer. */
export interface FailSpec {
  /** HTTP status code, e.g. 500, 503, 429, 403. */
  readonly status: number;
  /** Status `reason`. @default the server's reason for `status` (e.g. `InternalError` for 500) */
  readonly reason?: string;
  /** Status `message`. @default the server's wording for `status` */
  readonly message?: string;
  /** How many matching requests to fail; overrides the match's `times`. @default until cleared */
  readonly times?: number;
  /** Sent as the `Retry-After` header and `details.retryAfterSeconds`. @default none */
  readonly retryAfterSeconds?: number;
  /**
   * A raw `text/plain` body instead of a Status, as some front ends answer (the
   * server's own 429 from priority and fairness is plain text). @default a Status body
   */
  readonly body?: string;
}

/** Options of {@link LeaseApiFaults.latency}. */
export interface LatencyOptions extends FaultMatch {
  /**
   * `request` delays before the server acts; `response` acts at once and delays
   * the answer, so a client that gives up may miss a write that happened.
   * @default 'request'
   */
  readonly phase?: 'request' | 'response';
}

/** Options of {@link LeaseApiFaults.blackhole}. */
export interface BlackholeOptions extends FaultMatch {
  /**
   * What happens to held requests when the fault is cleared: `destroy` resets
   * their connections, `deliver` lets the server act on them and answer late.
   * @default 'destroy'
   */
  readonly onClear?: 'destroy' | 'deliver';
}

/** Options of {@link LeaseApiFaults.dropWatches}. */
export interface DropWatchesOptions {
  /** Reset the connections instead of ending the streams cleanly. @default false */
  readonly abrupt?: boolean;
}

/** A request as a hook sees it. */
export interface InterceptedRequest {
  /** The RBAC verb of the request. */
  readonly verb: LeaseVerb;
  /** The namespace of the path; empty for a cluster-wide list or watch. */
  readonly namespace: string;
  /** The lease named by the path, or by a `metadata.name=` field selector. */
  readonly name?: string;
  /** The authenticated user; empty when authentication failed. */
  readonly user: string;
  /** The HTTP method. */
  readonly method: string;
  /** The request target as sent, query string included. */
  readonly path: string;
  /** The parsed query parameters. */
  readonly query: URLSearchParams;
  /** The request headers. */
  readonly headers: IncomingHttpHeaders;
  /** The request body as text; `''` when there is none. */
  readonly body: string;
}

/** A hook run before the server acts on a request; returning a {@link FailSpec} answers that error instead. */
export type RequestHook = (request: InterceptedRequest) => void | FailSpec | Promise<void | FailSpec>;

/** A registered fault. */
export interface FaultHandle {
  /** Removes the fault (releasing requests a blackhole holds). Idempotent. */
  clear(): void;
  /** How many requests the fault has applied to. */
  readonly hits: number;
  /** False once cleared or used up. */
  readonly active: boolean;
}

/** Fault injection of a {@link LeaseApiEmulator}. */
export interface LeaseApiFaults {
  /** Delays matching requests by `ms` milliseconds. */
  latency(ms: number, options?: LatencyOptions): FaultHandle;
  /** Answers matching requests with an error. */
  fail(spec: FailSpec, match?: FaultMatch): FaultHandle;
  /** Accepts matching requests and never answers them, until cleared or the emulator closes. */
  blackhole(options?: BlackholeOptions): FaultHandle;
  /** Runs `hook` on every matching request before the server acts on it. */
  onRequest(hook: RequestHook, match?: FaultMatch): FaultHandle;
  /** Ends every open watch now, as an API server restart does; returns how many were open. */
  dropWatches(options?: DropWatchesOptions): number;
  /** Removes every fault. */
  clear(): void;
}

/** What faults match on. */
export interface RequestFacts {
  readonly verb: LeaseVerb;
  readonly namespace: string;
  readonly name?: string;
  readonly user: string;
}

/** A registered fault: what it matches, how often it may still apply, and its use count. */
export class FaultRule<T> implements FaultHandle {
  hits = 0;
  readonly payload: T;
  #remaining: number;
  #cleared = false;
  readonly #match: FaultMatch;
  readonly #onRemove: (rule: FaultRule<T>) => void;
  readonly #onClear: ((rule: FaultRule<T>) => void) | undefined;

  constructor(
    match: FaultMatch,
    payload: T,
    times: number | undefined,
    onRemove: (rule: FaultRule<T>) => void,
    onClear?: (rule: FaultRule<T>) => void,
  ) {
    this.#match = match;
    this.payload = payload;
    this.#remaining = times ?? Number.POSITIVE_INFINITY;
    this.#onRemove = onRemove;
    this.#onClear = onClear;
  }

  get active(): boolean {
    return !this.#cleared && this.#remaining > 0;
  }

  clear(): void {
    if (this.#cleared) return;
    this.#cleared = true;
    this.#onRemove(this);
    this.#onClear?.(this);
  }

  matches(facts: RequestFacts): boolean {
    const match = this.#match;
    const verbs = match.verb === undefined ? undefined : typeof match.verb === 'string' ? [match.verb] : match.verb;
    if (!this.active || (verbs !== undefined && !verbs.includes(facts.verb))) return false;
    if (match.name !== undefined && facts.name !== match.name) return false;
    if (match.namespace !== undefined && facts.namespace !== match.namespace) return false;
    return match.user === undefined || facts.user === match.user;
  }

  /**
   * Counts one use. A rule used up stops matching; a used-up blackhole keeps
   * what it holds until clear() is called.
   */
  take(): T {
    this.hits++;
    this.#remaining--;
    if (this.#remaining <= 0) this.#onRemove(this);
    return this.payload;
  }
}

interface Held {
  readonly rule: FaultRule<BlackholeOptions>;
  readonly settle: (outcome: 'deliver' | 'drop') => void;
}

/** The emulator's side of fault injection. */
export class FaultInjector implements LeaseApiFaults {
  readonly #latency = new Set<FaultRule<Required<Pick<LatencyOptions, 'phase'>> & { ms: number }>>();
  readonly #fail = new Set<FaultRule<FailSpec>>();
  readonly #blackhole = new Set<FaultRule<BlackholeOptions>>();
  readonly #hooks = new Set<FaultRule<RequestHook>>();
  readonly #held = new Set<Held>();
  readonly #dropWatches: (abrupt: boolean) => number;
  readonly #onHeldChange: () => void;

  /** `onHeldChange` runs whenever a request starts or stops being held. */
  constructor(dropWatches: (abrupt: boolean) => number, onHeldChange: () => void) {
    this.#dropWatches = dropWatches;
    this.#onHeldChange = onHeldChange;
  }

  latency(ms: number, options: LatencyOptions = {}): FaultHandle {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency: ms must be a finite number >= 0, got ${ms}`);
    const phase = options.phase ?? 'request';
    if (phase !== 'request' && phase !== 'response') throw new RangeError(`latency: unknown phase ${JSON.stringify(phase)}`);
    return this.#add(this.#latency, options, { ms, phase }, options.times);
  }

  fail(spec: FailSpec, match: FaultMatch = {}): FaultHandle {
    if (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599) {
      throw new RangeError(`fail: status must be an integer from 400 to 599, got ${spec.status}`);
    }
    if (spec.retryAfterSeconds !== undefined && (!Number.isInteger(spec.retryAfterSeconds) || spec.retryAfterSeconds < 0)) {
      throw new RangeError(`fail: retryAfterSeconds must be an integer >= 0, got ${spec.retryAfterSeconds}`);
    }
    return this.#add(this.#fail, match, spec, spec.times ?? match.times);
  }

  blackhole(options: BlackholeOptions = {}): FaultHandle {
    const onClear = options.onClear ?? 'destroy';
    if (onClear !== 'destroy' && onClear !== 'deliver') {
      throw new RangeError(`blackhole: unknown onClear ${JSON.stringify(onClear)}`);
    }
    return this.#add(this.#blackhole, options, { ...options, onClear }, options.times, (rule) => {
      for (const held of [...this.#held]) if (held.rule === rule) held.settle(onClear === 'deliver' ? 'deliver' : 'drop');
    });
  }

  onRequest(hook: RequestHook, match: FaultMatch = {}): FaultHandle {
    if (typeof hook !== 'function') throw new TypeError('onRequest: hook must be a function');
    return this.#add(this.#hooks, match, hook, match.times);
  }

  dropWatches(options: DropWatchesOptions = {}): number {
    return this.#dropWatches(options.abrupt ?? false);
  }

  clear(): void {
    for (const set of [this.#latency, this.#fail, this.#blackhole, this.#hooks] as const) {
      for (const rule of [...set]) rule.clear();
    }
    // Used-up blackholes are out of the sets but may still hold requests.
    for (const held of [...this.#held]) held.rule.clear();
  }

  /** Total delay of the matching latency faults for one phase. */
  takeLatency(facts: RequestFacts, phase: 'request' | 'response'): number {
    let total = 0;
    for (const rule of [...this.#latency]) {
      if (rule.payload.phase === phase && rule.matches(facts)) total += rule.take().ms;
    }
    return total;
  }

  /** The blackhole that swallows this request, if any. */
  takeBlackhole(facts: RequestFacts): FaultRule<BlackholeOptions> | undefined {
    const rule = [...this.#blackhole].find((candidate) => candidate.matches(facts));
    rule?.take();
    return rule;
  }

  /** The hooks that see this request. */
  takeHooks(facts: RequestFacts): RequestHook[] {
    return [...this.#hooks].filter((rule) => rule.matches(facts)).map((rule) => rule.take());
  }

  /** The error this request is answered with, if any. */
  takeFail(facts: RequestFacts): FailSpec | undefined {
    return [...this.#fail].find((rule) => rule.matches(facts))?.take();
  }

  /**
   * Holds a request until its blackhole is cleared or the emulator closes.
   * Called in the same tick as takeBlackhole, so the rule cannot be cleared in between.
   */
  hold(rule: FaultRule<BlackholeOptions>, response: ServerResponse): Promise<'deliver' | 'drop'> {
    return new Promise((resolve) => {
      const held: Held = {
        rule,
        settle: (outcome) => {
          if (!this.#held.delete(held)) return;
          if (outcome === 'drop') response.destroy();
          resolve(outcome);
          this.#onHeldChange();
        },
      };
      this.#held.add(held);
      this.#onHeldChange();
      // A client that gives up frees its slot.
      response.once('close', () => held.settle('drop'));
    });
  }

  /** Number of requests currently held by blackholes. */
  get heldCount(): number {
    return this.#held.size;
  }

  /** Resets every held connection (the emulator is closing). */
  dropAllHeld(): void {
    for (const held of [...this.#held]) held.settle('drop');
  }

  #add<T>(
    set: Set<FaultRule<T>>,
    match: FaultMatch,
    payload: T,
    times: number | undefined,
    onClear?: (rule: FaultRule<T>) => void,
  ): FaultHandle {
    if (times !== undefined && (!Number.isInteger(times) || times < 1)) {
      throw new RangeError(`times must be an integer >= 1, got ${times}`);
    }
    const rule = new FaultRule(match, payload, times, (removed) => set.delete(removed), onClear);
    set.add(rule);
    return rule;
  }
}

const DEFAULT_REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

const INJECTED = 'fault injected by the Lease API emulator';

/** The Status a {@link FailSpec} answers, worded as the server words that status. */
export function faultStatus(spec: FailSpec, facts: RequestFacts): Status {
  const name = facts.name ?? '';
  const base = defaultStatus(spec.status, facts, name);
  const details = {
    ...(base.details ?? {}),
    ...(spec.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: spec.retryAfterSeconds }),
  };
  return failure(
    spec.status,
    spec.reason ?? base.reason ?? '',
    spec.message ?? base.message ?? '',
    Object.keys(details).length === 0 ? undefined : details,
  );
}

function defaultStatus(code: number, facts: RequestFacts, name: string): Status {
  const leaseDetails = { name, group: LEASE_GROUP, kind: LEASE_RESOURCE };
  switch (code) {
    case 403:
      return forbidden(name, forbiddenReason(facts.user || ADMIN_USER, facts.verb, facts.namespace || undefined));
    case 404:
      if (name !== '') return leaseNotFound(name);
      break;
    case 409:
      if (name !== '') return staleConflict(name);
      break;
    case 422:
      return failure(422, 'Invalid', `${QUALIFIED_LEASE_KIND} ${JSON.stringify(name)} is invalid`, leaseDetails);
    case 429:
      return failure(429, 'TooManyRequests', 'Too many requests, please try again later.');
    case 500:
      return failure(500, 'InternalError', `Internal error occurred: ${INJECTED}`, { causes: [{ message: INJECTED }] });
    case 503:
      return failure(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    case 504:
      return failure(504, 'Timeout', 'Timeout: request did not complete within requested timeout - context deadline exceeded');
  }
  return failure(code, DEFAULT_REASONS[code] ?? '', `the server responded with the status code ${code} (${INJECTED})`);
}
