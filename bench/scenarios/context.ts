// What every scenario gets, and small helpers they share.
import type { BenchConfig } from '../config.js';
import type { Design, WorkerConfig } from '../protocol.js';
import type { TargetServer } from '../target-server.js';
import type { Worker, WorkerPool } from '../worker-pool.js';

export interface ScenarioContext {
  readonly config: BenchConfig;
  readonly server: TargetServer;
  readonly pool: WorkerPool;
  readonly libraryUrl: string;
  /** The designs to measure: every one, but client-go only when its program could be built. */
  readonly designs: readonly Design[];
  /** Aborts when the run's deadline passes or it is interrupted. */
  readonly signal: AbortSignal;
}

export interface WorkerSpec<P> {
  readonly design: Design;
  /** Each role is its own user on the emulator (see TargetServer.kubeConfigFor). */
  readonly role: string;
  readonly identity: string;
  readonly deadlineMs: number;
  readonly params: P;
}

export async function startWorker<P>(context: ScenarioContext, script: string, spec: WorkerSpec<P>): Promise<Worker> {
  const config: WorkerConfig<P> = {
    design: spec.design,
    libraryUrl: context.libraryUrl,
    kubeConfig: await context.server.kubeConfigFor(spec.role),
    namespace: context.server.namespace,
    identity: spec.identity,
    deadlineMs: spec.deadlineMs,
    params: spec.params,
  };
  return context.pool.start(script, spec.identity, config);
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves when `promise` settles or after `ms`, whichever comes first; leaves no timer behind. */
export async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Marks a promise's rejection as handled, for promises a scenario may stop waiting for. */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export function log(line: string): void {
  console.log(`  ${line}`);
}
