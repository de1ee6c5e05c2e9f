// Metrics through the OpenTelemetry API, when the application has installed it (an optional
// peer dependency); without it, or without an SDK registered, every call is a no-op. The API
// is loaded synchronously on first use so that `import`ing leaselocker never waits for it and
// `require(esm)` keeps working, and the meter is fetched again on each use: the OpenTelemetry
// API hands out a no-op meter until an SDK registers, which may happen after our first use.
import { createRequire } from 'node:module';

import { log } from './log.js';

type Attributes = Readonly<Record<string, string>>;

// The few members of the OpenTelemetry API used here, typed locally so that our typings never
// name a package the application may not have.
interface Histogram {
  record(value: number, attributes?: Attributes): void;
}
interface Counter {
  add(value: number, attributes?: Attributes): void;
}
interface InstrumentOptions {
  readonly description: string;
  readonly unit: string;
  readonly advice?: { readonly explicitBucketBoundaries: readonly number[] };
}
interface Meter {
  createHistogram(name: string, options: InstrumentOptions): Histogram;
  createCounter(name: string, options: InstrumentOptions): Counter;
}
interface MetricsApi {
  getMeter(name: string, version?: string): Meter;
}

interface Instruments {
  readonly lockDuration: Histogram;
  readonly holdDuration: Histogram;
  readonly acquisitions: Counter;
  readonly losses: Counter;
  readonly renewalDuration: Histogram;
  readonly renewalFailures: Counter;
}

const require = createRequire(import.meta.url);
const version = (require('../package.json') as { version: string }).version;
let api: MetricsApi | null | undefined;
const instrumentsByMeter = new WeakMap<Meter, Instruments>();

// Waits range from a free lease (milliseconds) to a queue behind long jobs (minutes).
const waitBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];
const holdBuckets = [0.01, 0.1, 1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400];
const requestBuckets = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function metricsApi(): MetricsApi | null {
  if (api === undefined) {
    try {
      api = (require('@opentelemetry/api') as { metrics: MetricsApi }).metrics;
    } catch {
      api = null;
      log.state('@opentelemetry/api is not installed: no metrics');
    }
  }
  return api;
}

function instruments(): Instruments | undefined {
  const meter = metricsApi()?.getMeter('leaselocker', version);
  if (meter === undefined) return undefined;
  let found = instrumentsByMeter.get(meter);
  if (found === undefined) {
    found = {
      lockDuration: meter.createHistogram('leaselocker.lock.duration', {
        description: 'How long lock() and tryLock() took, by outcome.',
        unit: 's',
        advice: { explicitBucketBoundaries: waitBuckets },
      }),
      holdDuration: meter.createHistogram('leaselocker.hold.duration', {
        description: 'How long holds lasted, from the acquiring write to their end, by how they ended.',
        unit: 's',
        advice: { explicitBucketBoundaries: holdBuckets },
      }),
      acquisitions: meter.createCounter('leaselocker.acquisitions', { description: 'Holds acquired.', unit: '{acquisition}' }),
      losses: meter.createCounter('leaselocker.losses', { description: 'Holds lost (ended without unlock()), by reason.', unit: '{loss}' }),
      renewalDuration: meter.createHistogram('leaselocker.renewal.duration', {
        description: 'Latency of successful renewals.',
        unit: 's',
        advice: { explicitBucketBoundaries: requestBuckets },
      }),
      renewalFailures: meter.createCounter('leaselocker.renewal.failures', {
        description: 'Renewal attempts that failed and were retried.',
        unit: '{failure}',
      }),
    };
    instrumentsByMeter.set(meter, found);
  }
  return found;
}

/** How a lock() or tryLock() call ended. */
export type LockOutcome = 'acquired' | 'busy' | 'aborted' | 'error';

/** The metrics of one locker; every attribute set names its lease (`namespace/name`). */
export class LockerMetrics {
  readonly #lease: Attributes;

  constructor(lease: string) {
    this.#lease = { 'leaselocker.lease': lease };
  }

  lockSettled(operation: 'lock' | 'tryLock', outcome: LockOutcome, seconds: number): void {
    safely((found) => found.lockDuration.record(seconds, { ...this.#lease, 'leaselocker.operation': operation, 'leaselocker.outcome': outcome }));
  }

  acquired(): void {
    safely((found) => found.acquisitions.add(1, this.#lease));
  }

  /** A hold ended: `end` is `'released'` or the loss reason. */
  holdEnded(end: string, seconds: number, options: { readonly lost: boolean }): void {
    safely((found) => {
      found.holdDuration.record(seconds, { ...this.#lease, 'leaselocker.end': end });
      if (options.lost) found.losses.add(1, { ...this.#lease, 'leaselocker.loss.reason': end });
    });
  }

  renewed(seconds: number): void {
    safely((found) => found.renewalDuration.record(seconds, this.#lease));
  }

  renewFailed(): void {
    safely((found) => found.renewalFailures.add(1, this.#lease));
  }
}

/**
 * Records through the instruments, if any. A meter provider is the application's code running
 * inside the lock's state changes: whatever it throws must not disturb them.
 */
function safely(record: (found: Instruments) => void): void {
  try {
    const found = instruments();
    if (found !== undefined) record(found);
  } catch (error) {
    log.state('recording a metric failed: %O', error);
  }
}
