// Back-to-back lock() + unlock() cycles on a Lease nobody else touches.
import type { UncontendedParams } from '../protocol.js';
import { now } from '../protocol.js';
import { createLocker, fail, finish, guardLifetime, loadKubeConfig, loadLibrary, report, workerConfig } from './runtime.js';

const config = workerConfig<UncontendedParams>();
guardLifetime(config.deadlineMs);
const { params } = config;
const locker = createLocker({
  design: config.design,
  library: await loadLibrary(config.libraryUrl),
  kubeConfig: loadKubeConfig(config.kubeConfig),
  namespace: config.namespace,
  name: params.lease,
  identity: config.identity,
});

async function cycle(): Promise<{ lockMs: number; unlockMs: number }> {
  const start = now();
  await locker.lock();
  const locked = now();
  if (!(await locker.unlock())) throw new Error('unlock() did not release the lease');
  return { lockMs: locked - start, unlockMs: now() - locked };
}

try {
  // The first cycles create the Lease and warm up connections and code paths.
  for (let i = 0; i < params.warmupCycles; i += 1) await cycle();
  const cycleMs: number[] = [];
  const lockMs: number[] = [];
  const unlockMs: number[] = [];
  const started = now();
  while (cycleMs.length < params.maxCycles && now() - started < params.maxDurationMs) {
    const timing = await cycle();
    lockMs.push(timing.lockMs);
    unlockMs.push(timing.unlockMs);
    cycleMs.push(timing.lockMs + timing.unlockMs);
  }
  report({ type: 'uncontended-result', at: now(), result: { cycleMs, lockMs, unlockMs, elapsedMs: now() - started } });
  await finish(0);
} catch (error) {
  fail(error);
  await finish(1);
}
