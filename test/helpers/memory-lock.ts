import { LeaseApiError } from '../../src/errors.js';
import type { LockRecord } from '../../src/record.js';
import type { LockSnapshot, ResourceLock, ResourceLockCallOptions } from '../../src/resource-lock.js';

type Op = 'get' | 'create' | 'update';

interface Gate {
  readonly op: Op;
  readonly reached: Promise<void>;
  /** Lets the held call proceed to the store. */
  release(): void;
  reach(): void;
  readonly wait: Promise<void>;
}

/**
 * One lock record in memory with optimistic concurrency, shared by several MemoryLocks, for
 * testing the loop without HTTP. Every call is logged; a test can fail or hold the next call.
 */
export class MemoryStore {
  record: LockRecord | undefined;
  version = 0;
  readonly calls: Array<{ op: Op; identity: string }> = [];
  readonly #failures: Array<{ op: Op; error: Error; afterApply: boolean }> = [];
  readonly #gates: Gate[] = [];

  lockFor(identity: string): MemoryLock {
    return new MemoryLock(this, identity);
  }

  count(op?: Op, identity?: string): number {
    return this.calls.filter((c) => (op === undefined || c.op === op) && (identity === undefined || c.identity === identity)).length;
  }

  /** The next call of `op` rejects with `error`. */
  failNext(op: Op, error: Error): void {
    this.#failures.push({ op, error, afterApply: false });
  }

  /** The next call of `op` takes effect, but the caller gets `error` (an answer lost on the way back). */
  loseAnswerNext(op: Op, error: Error): void {
    this.#failures.push({ op, error, afterApply: true });
  }

  /** Throws the pending lost-answer error of `op`, if any, after the call took effect. */
  afterApply(op: Op): void {
    const index = this.#failures.findIndex((f) => f.op === op && f.afterApply);
    if (index >= 0) {
      const [failure] = this.#failures.splice(index, 1);
      if (failure !== undefined) throw failure.error;
    }
  }

  /** The next call of `op` waits until the returned gate is released; `reached` resolves when it arrives. */
  holdNext(op: Op): Gate {
    let reach!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => { reach = resolve; });
    const wait = new Promise<void>((resolve) => { release = resolve; });
    const gate: Gate = { op, reached, release, reach, wait };
    this.#gates.push(gate);
    return gate;
  }

  /** A write by someone else. */
  writeOutside(record: LockRecord | undefined): void {
    this.record = record === undefined ? undefined : { ...record };
    this.version += 1;
  }

  async enter(op: Op, identity: string, signal: AbortSignal | undefined): Promise<void> {
    this.calls.push({ op, identity });
    const gateIndex = this.#gates.findIndex((g) => g.op === op);
    if (gateIndex >= 0) {
      const [gate] = this.#gates.splice(gateIndex, 1);
      gate?.reach();
      await abortable(gate?.wait ?? Promise.resolve(), signal);
    }
    await Promise.resolve();
    if (signal?.aborted === true) throw signal.reason;
    const failureIndex = this.#failures.findIndex((f) => f.op === op && !f.afterApply);
    if (failureIndex >= 0) {
      const [failure] = this.#failures.splice(failureIndex, 1);
      if (failure !== undefined) throw failure.error;
    }
  }

  snapshot(): LockSnapshot {
    if (this.record === undefined) throw new Error('no record');
    return { record: { ...this.record }, version: String(this.version) };
  }
}

export class MemoryLock implements ResourceLock {
  constructor(readonly store: MemoryStore, readonly identity: string) {}

  describe(): string {
    return 'memory/lock';
  }

  recordEvent(): void {}

  async get(options: ResourceLockCallOptions = {}): Promise<LockSnapshot | undefined> {
    await this.store.enter('get', this.identity, options.signal);
    return this.store.record === undefined ? undefined : this.store.snapshot();
  }

  async create(record: LockRecord, options: ResourceLockCallOptions = {}): Promise<LockSnapshot> {
    await this.store.enter('create', this.identity, options.signal);
    if (this.store.record !== undefined) throw conflict('AlreadyExists');
    this.store.writeOutside(record);
    this.store.afterApply('create');
    return this.store.snapshot();
  }

  async update(record: LockRecord, base: LockSnapshot, options: ResourceLockCallOptions = {}): Promise<LockSnapshot> {
    await this.store.enter('update', this.identity, options.signal);
    if (this.store.record === undefined || base.version !== String(this.store.version)) throw conflict('Conflict');
    this.store.writeOutside(record);
    this.store.afterApply('update');
    return this.store.snapshot();
  }
}

export function conflict(reason: string): LeaseApiError {
  return new LeaseApiError('memory', { statusCode: 409, reason, statusMessage: 'the object has been modified' });
}

export function apiError(statusCode: number, reason: string): LeaseApiError {
  return new LeaseApiError('memory', { statusCode, reason, statusMessage: reason });
}

async function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return promise;
  await new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
