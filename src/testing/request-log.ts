// The log of lease API requests the emulator answered: what tests and
// benchmarks count to measure how much load a client puts on the API server.

import type { LeaseVerb } from './auth.js';

/** One lease API request. */
export interface RequestRecord {
  /** The RBAC verb of the request. */
  readonly verb: LeaseVerb;
  /** The namespace of the path; empty for a cluster-wide list or watch. */
  readonly namespace: string;
  /** The lease named by the path, or by a `metadata.name=` field selector. */
  readonly name?: string;
  /** The authenticated user; empty when authentication failed. */
  readonly user: string;
  /** The HTTP status answered; 0 while (or if never) answered. */
  readonly status: number;
  /** When the request arrived, in milliseconds since the epoch. */
  readonly at: number;
}

/** Which records to count; every given field must match. */
export interface RequestFilter {
  /** Verb or verbs. @default every verb */
  readonly verb?: LeaseVerb | readonly LeaseVerb[];
  /** The namespace; `''` for cluster-wide requests. @default every namespace */
  readonly namespace?: string;
  /** The lease name. @default every lease */
  readonly name?: string;
  /** The authenticated user. @default every user */
  readonly user?: string;
  /** The HTTP status answered (0 while unanswered). @default every status */
  readonly status?: number;
}

/** A record the server fills in as the request proceeds. */
export interface PendingRecord {
  verb: LeaseVerb;
  namespace: string;
  name?: string;
  user: string;
  status: number;
  at: number;
}

/** The request log. */
export class RequestLog {
  #records: PendingRecord[] = [];

  /** Appends a record and returns it for the server to complete. */
  add(record: PendingRecord): PendingRecord {
    this.#records.push(record);
    return record;
  }

  /** Copies of every record, oldest first. */
  snapshot(): readonly RequestRecord[] {
    return Object.freeze(this.#records.map((record) => Object.freeze({ ...record })));
  }

  /** How many records match `filter`. */
  count(filter: RequestFilter = {}): number {
    return this.#records.filter((record) => matches(record, filter)).length;
  }

  /** Forgets every record. */
  reset(): void {
    this.#records = [];
  }
}

function matches(record: RequestRecord, filter: RequestFilter): boolean {
  const verbs = filter.verb === undefined ? undefined : typeof filter.verb === 'string' ? [filter.verb] : filter.verb;
  if (verbs !== undefined && !verbs.includes(record.verb)) return false;
  if (filter.namespace !== undefined && record.namespace !== filter.namespace) return false;
  if (filter.name !== undefined && record.name !== filter.name) return false;
  if (filter.user !== undefined && record.user !== filter.user) return false;
  return filter.status === undefined || record.status === filter.status;
}
