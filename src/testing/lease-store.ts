// The emulator's etcd and watch cache in one: leases by namespace and name, a
// cluster-wide revision that is every object's resourceVersion, and a bounded
// history of events that watches resume from.
//
// Revisions jump by random amounts, as etcd's do when other objects change in
// between: a client that assumes "+1" breaks here as it would on a cluster.

import { randomInt, randomUUID } from 'node:crypto';

import {
  buildLease,
  draftOf,
  type LeaseDraft,
  type LeaseObject,
  type ManagedFieldsEntry,
} from './lease-object.js';
import { dateToSecondsTime } from './micro-time.js';

/** One change, as a watch delivers it. */
export interface LeaseEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** The object after the change; for DELETED, the last state at the deletion's revision. */
  readonly object: LeaseObject;
  /** The object before the change (MODIFIED and DELETED). */
  readonly previous?: LeaseObject;
  readonly revision: number;
}

/** The answer to "events after revision N". */
export type HistoryQuery =
  | { readonly ok: true; readonly events: readonly LeaseEvent[] }
  | { readonly ok: false; readonly oldestAvailable: number };

/** A write's result. */
export interface WriteResult {
  readonly object: LeaseObject;
  /** False when the write matched what was stored and was skipped. */
  readonly changed: boolean;
}

/** Fields the server sets on create. */
export interface SystemFields {
  readonly uid: string;
  readonly creationTimestamp: string;
}

/** New uid and creationTimestamp, as FillObjectMetaSystemFields sets them. */
export function newSystemFields(now = new Date()): SystemFields {
  return { uid: randomUUID(), creationTimestamp: dateToSecondsTime(now) };
}

/** Leases, revisions and history. Every method is synchronous, so every write is atomic. */
export class LeaseStore {
  readonly #leases = new Map<string, Map<string, LeaseObject>>();
  readonly #history: LeaseEvent[] = [];
  readonly #historyLimit: number;
  readonly #listeners = new Set<(event: LeaseEvent) => void>();
  #revision: number;
  /** Lowest revision a watch may resume from while no event was evicted. */
  #floor: number;
  #evicted = false;

  constructor(historyLimit: number) {
    this.#historyLimit = historyLimit;
    this.#revision = randomInt(100, 10_000);
    this.#floor = this.#revision;
  }

  /** The current revision. */
  get revision(): number {
    return this.#revision;
  }

  /** The stored lease (frozen: copy before changing it). */
  get(namespace: string, name: string): LeaseObject | undefined {
    return this.#leases.get(namespace)?.get(name);
  }

  /** Leases of one namespace (or all), ordered by namespace then name as etcd keys are. */
  list(namespace?: string): LeaseObject[] {
    const namespaces = namespace === undefined ? [...this.#leases.keys()].sort() : [namespace];
    return namespaces.flatMap((ns) => {
      const leases = this.#leases.get(ns);
      return leases === undefined ? [] : [...leases.keys()].sort().map((name) => leases.get(name) as LeaseObject);
    });
  }

  /** Stores a new lease. The caller has checked that the name is free. */
  create(draft: LeaseDraft, managedFields: readonly ManagedFieldsEntry[], dryRun = false): LeaseObject {
    if (dryRun) return buildLease(draft, '', managedFields);
    const object = deepFreeze(buildLease(draft, String(this.#advance()), managedFields));
    this.#put(object);
    this.#record({ type: 'ADDED', object, revision: this.#revision });
    return object;
  }

  /**
   * Replaces a stored lease. A result that encodes the same as what is stored
   * (managedFields included) is skipped: same resourceVersion, no event (etcd3
   * GuaranteedUpdate does this).
   */
  update(draft: LeaseDraft, managedFields: readonly ManagedFieldsEntry[], dryRun = false): WriteResult {
    const previous = this.get(draft.namespace, draft.name);
    if (previous === undefined) throw new Error(`lease ${draft.namespace}/${draft.name} is not stored`);
    const unchanged = buildLease(draft, previous.metadata.resourceVersion, managedFields);
    if (JSON.stringify(unchanged) === JSON.stringify(previous)) return { object: previous, changed: false };
    if (dryRun) return { object: buildLease(draft, previous.metadata.resourceVersion, managedFields), changed: true };
    const object = deepFreeze(buildLease(draft, String(this.#advance()), managedFields));
    this.#put(object);
    this.#record({ type: 'MODIFIED', object, previous, revision: this.#revision });
    return { object, changed: true };
  }

  /** Deletes a stored lease; returns what was deleted, or undefined if nothing was. */
  delete(namespace: string, name: string, dryRun = false): LeaseObject | undefined {
    const previous = this.get(namespace, name);
    if (previous === undefined || dryRun) return previous;
    this.#leases.get(namespace)?.delete(name);
    // The DELETED event carries the last state at the deletion's revision.
    const object = deepFreeze(
      buildLease(draftOf(previous), String(this.#advance()), previous.metadata.managedFields),
    );
    this.#record({ type: 'DELETED', object, previous, revision: this.#revision });
    return previous;
  }

  /**
   * Events after `revision`, or the oldest revision still available when
   * `revision` is older than the retained window (the watch cache's rule:
   * resuming is allowed from one below the oldest retained event).
   */
  eventsAfter(revision: number): HistoryQuery {
    const oldest = this.#evicted ? (this.#history[0]?.revision ?? this.#revision + 1) : this.#floor + 1;
    if (revision < oldest - 1) return { ok: false, oldestAvailable: oldest - 1 };
    return { ok: true, events: this.#history.filter((event) => event.revision > revision) };
  }

  /** Forgets every past event: a resume from any earlier revision is now too old. */
  compact(): void {
    this.#history.length = 0;
    this.#evicted = false;
    this.#floor = this.#revision;
  }

  /** Calls `listener` synchronously after every write; returns the unsubscribe function. */
  subscribe(listener: (event: LeaseEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #advance(): number {
    this.#revision += randomInt(1, 8);
    return this.#revision;
  }

  #put(object: LeaseObject): void {
    const { namespace, name } = object.metadata;
    let leases = this.#leases.get(namespace);
    if (leases === undefined) {
      leases = new Map();
      this.#leases.set(namespace, leases);
    }
    leases.set(name, object);
  }

  #record(event: LeaseEvent): void {
    this.#history.push(event);
    while (this.#history.length > this.#historyLimit) {
      this.#history.shift();
      this.#evicted = true;
    }
    if (this.#history.length === 0) {
      // A zero-sized window keeps nothing: only the current revision can be resumed.
      this.#evicted = false;
      this.#floor = this.#revision;
    }
    for (const listener of [...this.#listeners]) listener(event);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
