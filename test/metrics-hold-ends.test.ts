import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { apiError } from './helpers/memory-lock.js';
import { memoryFixture } from './helpers/memory-locker.js';
import { settle } from './helpers/fake-clock.js';

class Reader extends MetricReader {
  constructor() { super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA }); }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('hold.duration: every acquired hold ends exactly once', () => {
  const reader = new Reader();
  const provider = new MeterProvider({ readers: [reader] });
  before(() => { metrics.setGlobalMeterProvider(provider); });
  after(async () => { metrics.disable(); await provider.shutdown(); });

  /** Delta since the last call: hold.duration counts by end, and acquisitions. */
  async function delta(): Promise<{ ends: Record<string, number>; acquisitions: number; losses: number; failures: number }> {
    const { resourceMetrics } = await reader.collect();
    const ends: Record<string, number> = {};
    let acquisitions = 0;
    let losses = 0;
    let failures = 0;
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const p of metric.dataPoints as DataPoint<number | Histogram>[]) {
          if (metric.descriptor.name === 'leaselocker.hold.duration') {
            const end = String(p.attributes['leaselocker.end']);
            ends[end] = (ends[end] ?? 0) + (p.value as Histogram).count;
          } else if (metric.descriptor.name === 'leaselocker.acquisitions') acquisitions += p.value as number;
          else if (metric.descriptor.name === 'leaselocker.losses') losses += p.value as number;
          else if (metric.descriptor.name === 'leaselocker.renewal.failures') failures += p.value as number;
        }
      }
    }
    for (const k of Object.keys(ends)) if (ends[k] === 0) delete ends[k];
    return { ends, acquisitions, losses, failures };
  }

  it('a hold lost by renew deadline, then released by unlock(): recorded once, not also as released', async () => {
    await delta();
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    const hold = await a.lock();
    const gate = store.holdNext('update');
    await clock.advance(2_000);
    await gate.reached;
    await clock.advance(8_000); // renew deadline: lost
    gate.release();
    await settle();
    assert.equal(hold.isHeld, false);
    assert.equal(await a.unlock(), true, 'released over our last write');
    const d = await delta();
    assert.equal(d.acquisitions, 1);
    assert.deepEqual(d.ends, { 'renew-deadline': 1 }, 'one hold, one end');
  });

  it('a hold lost to the lifetime signal with releaseOnCancel: recorded once', async () => {
    await delta();
    const life = new AbortController();
    const { store, locker } = memoryFixture();
    const a = locker('a', { signal: life.signal, releaseOnCancel: true });
    await a.lock();
    life.abort();
    await settle();
    assert.equal(store.record?.holderIdentity, '', 'released on cancel');
    const d = await delta();
    assert.equal(d.acquisitions, 1);
    assert.deepEqual(d.ends, { cancelled: 1 });
  });

  it('a release that failed once and succeeded on retry (unlockWithRetry): the hold is recorded', async () => {
    await delta();
    const { store, locker } = memoryFixture({ retryPeriodMs: 10, renewDeadlineMs: 100, leaseDurationMs: 1000 });
    const a = locker('a');
    await a.lock();
    store.failNext('update', apiError(503, 'ServiceUnavailable'));
    await assert.rejects(a.unlock());
    assert.equal(await a.unlock(), true);
    const d = await delta();
    assert.equal(d.acquisitions, 1);
    assert.deepEqual(d.ends, { released: 1 }, 'the hold ended, and must be counted');
  });

  it('a hold found taken by unlock() (before a renewal noticed): the hold is recorded', async () => {
    await delta();
    const { store, locker, heldBy } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.writeOutside(heldBy('intruder'));
    assert.equal(await a.unlock(), false, 'someone else holds it');
    const d = await delta();
    assert.equal(d.acquisitions, 1);
    assert.equal(Object.values(d.ends).reduce((x, y) => x + y, 0), 1, `the hold ended once, recorded ${JSON.stringify(d.ends)}`);
  });

  it("renewal.failures counts only attempts that are retried, each with a 'renewFailed'", async () => {
    await delta();
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    let renewFailed = 0;
    a.on('renewFailed', () => { renewFailed += 1; });
    const hold = await a.lock();
    const gate = store.holdNext('update');
    store.failNext('update', apiError(503, 'ServiceUnavailable'));
    await clock.advance(2_000);
    await gate.reached; // a renewal in flight...
    const released = hold.release(); // ...when the hold is released: that renewal is not retried
    gate.release(); // it fails with a 503
    assert.equal(await released, true);
    const d = await delta();
    assert.equal(renewFailed, 0, "no 'renewFailed': the attempt was not retried");
    assert.equal(d.failures, renewFailed, 'the counter agrees with the events');
  });
});
