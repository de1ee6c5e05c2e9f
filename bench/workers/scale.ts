// One process holding many Leases: its CPU, memory and renewal punctuality.
import type { ScaleParams } from '../protocol.js';
import { now } from '../protocol.js';
import type { BenchLocker } from './runtime.js';
import { createLocker, fail, finish, guardLifetime, loadKubeConfig, loadLibrary, report, workerConfig } from './runtime.js';

const config = workerConfig<ScaleParams>();
guardLifetime(config.deadlineMs);
const { params } = config;
const library = await loadLibrary(config.libraryUrl);
// One KubeConfig for all lockers, as one program would have.
const kubeConfig = loadKubeConfig(config.kubeConfig);

let measuring = false;
let renewals = 0;
let lost = 0;
const latenessMs: number[] = [];

const lockers: BenchLocker[] = Array.from({ length: params.leases }, (_, i) => {
  const locker = createLocker({
    design: config.design,
    library,
    kubeConfig,
    namespace: config.namespace,
    name: `${params.leasePrefix}-${String(i).padStart(4, '0')}`,
    identity: config.identity,
  });
  let previous: number | undefined;
  locker.onRenewed((startedAt) => {
    if (measuring && previous !== undefined) {
      latenessMs.push(startedAt - (previous + params.retryPeriodMs));
      renewals += 1;
    }
    previous = startedAt;
  });
  locker.onLost(() => void (lost += 1));
  return locker;
});

/** Runs `task` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await task(item);
    }
  });
  await Promise.all(runners);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

try {
  const acquireStart = now();
  await eachLimited(lockers, params.concurrency, (locker) => locker.lock());
  const acquireMs = now() - acquireStart;
  await sleep(params.warmupMs);

  report({ type: 'measuring', at: now() });
  measuring = true;
  let peakRssWindowBytes = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRssWindowBytes = Math.max(peakRssWindowBytes, process.memoryUsage.rss());
  }, 100);
  const cpuBefore = process.cpuUsage();
  const started = now();
  await sleep(params.measureMs);
  const cpu = process.cpuUsage(cpuBefore);
  const measuredMs = now() - started;
  measuring = false;
  clearInterval(sampler);
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;

  report({
    type: 'scale-result',
    at: now(),
    result: { leases: params.leases, acquireMs, measuredMs, cpuMs: (cpu.user + cpu.system) / 1000, peakRssWindowBytes, maxRssBytes, latenessMs, renewals, lost },
  });
  // No release: exiting stops every renewal at once, so the next run starts on a quiet server
  // (releasing 1,000 leases one by one would take longer than the measurement).
  await finish(0);
} catch (error) {
  fail(error);
  await finish(1);
}
