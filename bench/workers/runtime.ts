// What every worker process shares: its configuration, the IPC channel to the
// benchmark, the guards that make it exit on its own, and a locker of either design.
import { KubeConfig } from '@kubernetes/client-node';
import type * as Library from '../../src/index.js';
import { PollingLocker } from '../polling-locker.js';
import type { Design, LockTiming, WorkerCommand, WorkerConfig, WorkerMessage } from '../protocol.js';
import { defaultTiming, now } from '../protocol.js';

/** The worker's configuration; exits at once when it is missing (not started by the benchmark). */
export function workerConfig<P>(): WorkerConfig<P> {
  const raw = process.env['BENCH_WORKER'];
  if (raw === undefined || process.send === undefined) {
    console.error('this is a benchmark worker: run `npm run bench` instead');
    process.exit(2);
  }
  return JSON.parse(raw) as WorkerConfig<P>;
}

/**
 * Exits when the benchmark goes away (the IPC channel closes, even if it was SIGKILLed) and,
 * whatever happens, once the deadline passes.
 */
export function guardLifetime(deadlineMs: number): void {
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => {
    console.error(`worker ${process.pid}: deadline of ${deadlineMs} ms passed, exiting`);
    process.exit(3);
  }, deadlineMs).unref();
}

export function report(message: WorkerMessage): void {
  process.send?.(message);
}

/** Sends `message` and resolves once it is written, so that exiting next does not lose it. */
export function reportFlushed(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

/** Exits once every message sent so far is written. */
export async function finish(code = 0): Promise<never> {
  await reportFlushed({ type: 'done', at: now(), code });
  process.exit(code);
}

export function fail(error: unknown): void {
  report({ type: 'failed', at: now(), message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
}

export function onCommand(handler: (command: WorkerCommand) => void): void {
  process.on('message', (message) => handler(message as WorkerCommand));
}

/** The compiled leaselocker, loaded from the URL the benchmark gives. */
export async function loadLibrary(url: string): Promise<typeof Library> {
  return (await import(url)) as typeof Library;
}

export function loadKubeConfig(exported: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(exported);
  return kubeConfig;
}

/** The part of a locker the workers use, the same for both designs. */
export interface BenchLocker {
  lock(signal?: AbortSignal): Promise<void>;
  unlock(): Promise<boolean>;
  readonly isLocked: boolean;
  /** `startedAt`: wall-clock ms when the renewal started. */
  onRenewed(listener: (startedAt: number) => void): void;
  onLost(listener: (reason: string) => void): void;
  /**
   * Each Lease write the locker sent, with the HTTP status answered (0: none), where the
   * design can tell (polling, whose code is the benchmark's); never called for leaselocker.
   */
  onWrote(listener: (status: number) => void): void;
}

export interface LockerSpec {
  readonly design: Design;
  readonly library: typeof Library;
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly timing?: LockTiming;
}

/** A locker of the given design with default settings (or `timing`). */
export function createLocker(spec: LockerSpec): BenchLocker {
  const timing = spec.timing ?? defaultTiming;
  const lease = { namespace: spec.namespace, name: spec.name };
  if (spec.design === 'polling') {
    const locker = new PollingLocker(spec.kubeConfig, lease, spec.identity, timing);
    return {
      lock: (signal) => locker.lock({ signal }),
      unlock: () => locker.unlock(),
      get isLocked() {
        return locker.isLocked;
      },
      onRenewed: (listener) => void locker.on('renewed', (event) => listener(event.startedAt)),
      onLost: (listener) => void locker.on('lost', (error) => listener(error.message)),
      onWrote: (listener) => void locker.on('wrote', listener),
    };
  }
  const locker = new spec.library.LeaseLocker(spec.kubeConfig, lease, spec.identity, timing);
  return {
    lock: async (signal) => { await locker.lock({ signal }); },
    unlock: () => locker.unlock(),
    get isLocked() {
      return locker.isLocked;
    },
    // renewTime is stamped when the renewal starts, just before its write.
    onRenewed: (listener) => void locker.on('renewed', (event) => listener(event.renewTime?.getTime() ?? Date.now())),
    onLost: (listener) => void locker.on('lost', (error) => listener(error.reason)),
    // The library does not tell of its requests: its writes are counted at the server only.
    onWrote: () => undefined,
  };
}
