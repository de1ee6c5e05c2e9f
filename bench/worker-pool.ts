// Starts worker processes and follows what they report. Every process started is
// tracked until it exits and killed on dispose, on any exit of the benchmark, and on
// Ctrl-C; workers also exit by themselves when the benchmark goes away or their deadline passes.
// A worker is a Node script with an IPC channel, or a program that speaks the same protocol
// as one JSON object per line on its stdin and stdout (the client-go worker): scenarios
// drive both alike.
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process';
import { fork, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Design, WorkerCommand, WorkerConfig, WorkerMessage } from './protocol.js';

/** How the process of a worker script is started for a design. */
export type WorkerLaunch =
  /** `node <script>`, messages over the IPC channel. */
  | { readonly kind: 'node'; readonly script: string }
  /** `<command> <args>`, messages as JSON lines on stdin (commands) and stdout (events). */
  | { readonly kind: 'stdio'; readonly command: string; readonly args: readonly string[] };

/** The launch of worker script `script` (e.g. `contender`) for `design`. */
export type Launcher = (script: string, design: Design) => WorkerLaunch;

/** A started process and how to talk to it. */
interface Channel {
  readonly child: ChildProcess;
  send(command: WorkerCommand): void;
  onMessage(listener: (message: WorkerMessage) => void): void;
  /** The event after which nothing more will be heard from the process. */
  readonly endEvent: 'exit' | 'close';
}

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

function nodeChannel(script: string, env: NodeJS.ProcessEnv): Channel {
  const child = fork(script, [], {
    execArgv: [], // not the benchmark's TypeScript loader: workers are plain JavaScript
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return {
    child,
    send: (command) => {
      if (child.connected) child.send(command);
    },
    onMessage: (listener) => void child.on('message', (message) => listener(message as WorkerMessage)),
    endEvent: 'exit',
  };
}

function stdioChannel(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv): Channel {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.on('error', () => undefined); // EPIPE once the process is gone: its exit is reported
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  return {
    child,
    send: (message) => {
      if (child.stdin.writable) child.stdin.write(`${JSON.stringify(message)}\n`);
    },
    onMessage: (listener) =>
      void lines.on('line', (line) => {
        let message: WorkerMessage;
        try {
          message = JSON.parse(line) as WorkerMessage;
        } catch {
          console.error(`  ${name}: ${line}`); // not the protocol: pass it on
          return;
        }
        listener(message);
      }),
    // 'close' comes after stdout has been read to its end, so no event is lost at exit.
    endEvent: 'close',
  };
}

export class WorkerPool implements Disposable {
  readonly #launcher: Launcher;
  readonly #children = new Set<ChildProcess>();
  readonly #listeners = new Set<Listener>();
  readonly #waiters = new Set<Waiter>();
  /** Workers that may exit without that being an error (stopped or killed by us). */
  readonly #leaving = new WeakSet<Worker>();

  constructor(launcher: Launcher) {
    this.#launcher = launcher;
    hookProcessExit();
  }

  /** Starts the worker script `script` (e.g. `contender`) of `config.design` as process `name`. */
  start<P>(script: string, name: string, config: WorkerConfig<P>): Worker {
    const launch = this.#launcher(script, config.design);
    const env = { ...process.env, BENCH_WORKER: JSON.stringify(config) };
    const channel = launch.kind === 'node' ? nodeChannel(launch.script, env) : stdioChannel(name, launch.command, launch.args, env);
    const { child } = channel;
    live.add(child);
    this.#children.add(child);
    const exited = new Promise<void>((resolve) => {
      child.once(channel.endEvent, (code: number | null, signal: NodeJS.Signals | null) => {
        live.delete(child);
        this.#children.delete(child);
        if (!this.#leaving.has(worker) && code !== 0) {
          this.#failWaiters(new Error(`worker ${name} exited unexpectedly (${signal ?? `exit code ${String(code)}`})`));
        }
        resolve();
      });
      child.once('error', (error) => {
        if (child.pid === undefined) {
          // It never started (e.g. the program is missing): nothing will come from it.
          live.delete(child);
          this.#children.delete(child);
          this.#failWaiters(new Error(`worker ${name} could not be started: ${error.message}`));
        }
        resolve();
      });
    });
    const worker: Worker = {
      name,
      pid: child.pid,
      send: (command) => {
        if (command.type === 'stop') this.#leaving.add(worker);
        channel.send(command);
      },
      kill: () => {
        this.#leaving.add(worker);
        child.kill('SIGKILL');
      },
      exited,
    };
    channel.onMessage((message) => this.#dispatch(worker, message));
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
