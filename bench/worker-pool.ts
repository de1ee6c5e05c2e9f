// Starts worker processes and follows what they report. Every process started is
// tracked until it exits and killed on dispose, on any exit of the benchmark, and on
// Ctrl-C; workers also exit by themselves when the benchmark goes away or their deadline passes.
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import type { WorkerCommand, WorkerConfig, WorkerMessage } from './protocol.js';

export interface Worker {
  readonly name: string;
  readonly pid: number | undefined;
  send(command: WorkerCommand): void;
  /** SIGKILL. */
  kill(): void;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
}

type Listener = (worker: Worker, message: WorkerMessage) => void;

interface Waiter {
  readonly match: (worker: Worker, message: WorkerMessage) => boolean;
  readonly resolve: (value: { worker: Worker; message: WorkerMessage }) => void;
  readonly reject: (error: Error) => void;
}

const live = new Set<ChildProcess>();
let hooked = false;

function killAllNow(): void {
  for (const child of live) child.kill('SIGKILL');
}

function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllNow);
}

export class WorkerPool implements Disposable {
  readonly #script: (name: string) => string;
  readonly #children = new Set<ChildProcess>();
  readonly #listeners = new Set<Listener>();
  readonly #waiters = new Set<Waiter>();
  /** Workers that may exit without that being an error (stopped or killed by us). */
  readonly #leaving = new WeakSet<Worker>();

  constructor(script: (name: string) => string) {
    this.#script = script;
    hookProcessExit();
  }

  /** Starts the worker script `script` (e.g. `contender`) as process `name`. */
  start<P>(script: string, name: string, config: WorkerConfig<P>): Worker {
    const child = fork(this.#script(script), [], {
      execArgv: [], // not the benchmark's TypeScript loader: workers are plain JavaScript
      env: { ...process.env, BENCH_WORKER: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(child);
    this.#children.add(child);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.#children.delete(child);
        if (!this.#leaving.has(worker) && code !== 0) {
          this.#failWaiters(new Error(`worker ${name} exited unexpectedly (${signal ?? `exit code ${String(code)}`})`));
        }
        resolve();
      });
      child.once('error', () => resolve());
    });
    const worker: Worker = {
      name,
      pid: child.pid,
      send: (command) => {
        if (command.type === 'stop') this.#leaving.add(worker);
        if (child.connected) child.send(command);
      },
      kill: () => {
        this.#leaving.add(worker);
        child.kill('SIGKILL');
      },
      exited,
    };
    child.on('message', (message) => this.#dispatch(worker, message as WorkerMessage));
    return worker;
  }

  /** Calls `listener` with every message of every worker. Returns the unsubscribe function. */
  onMessage(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The next message that matches. Call it before causing the message, so it cannot be missed.
   * Rejects after `timeoutMs`, when `signal` aborts, or when a worker dies unexpectedly.
   */
  next(match: (worker: Worker, message: WorkerMessage) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<{ worker: Worker; message: WorkerMessage }> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        match,
        resolve: (value) => {
          cleanup();
          resolve(value);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const onAbort = (): void => waiter.reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      const timer = setTimeout(() => waiter.reject(new Error(`no matching worker message within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
      if (signal?.aborted === true) onAbort();
    });
  }

  /** Waits for `type` from each of `workers`. */
  async all(workers: readonly Worker[], type: WorkerMessage['type'], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const pending = new Set(workers);
    await new Promise<void>((resolve, reject) => {
      const step = (): void => {
        if (pending.size === 0) {
          resolve();
          return;
        }
        this.next((worker, message) => message.type === type && pending.has(worker), timeoutMs, signal).then(({ worker }) => {
          pending.delete(worker);
          step();
        }, reject);
      };
      step();
    });
  }

  /** Asks every worker to stop, and kills those still running after `graceMs`. */
  async stopAll(workers: readonly Worker[], graceMs: number): Promise<void> {
    for (const worker of workers) worker.send({ type: 'stop' });
    const timer = setTimeout(() => workers.forEach((worker) => worker.kill()), graceMs);
    await Promise.all(workers.map((worker) => worker.exited));
    clearTimeout(timer);
  }

  /** Kills every worker this pool started. */
  [Symbol.dispose](): void {
    for (const child of this.#children) child.kill('SIGKILL');
  }

  #dispatch(worker: Worker, message: WorkerMessage): void {
    if (message.type === 'failed') {
      this.#failWaiters(new Error(`worker ${worker.name} failed: ${message.message}`));
    }
    if (message.type === 'done') this.#leaving.add(worker);
    for (const listener of this.#listeners) listener(worker, message);
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(worker, message)) waiter.resolve({ worker, message });
    }
  }

  #failWaiters(error: Error): void {
    for (const waiter of [...this.#waiters]) waiter.reject(error);
  }
}
