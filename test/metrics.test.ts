import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { apiError } from './helpers/memory-lock.js';
import { memoryFixture } from './helpers/memory-locker.js';

/** A reader that collects on demand. */
class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

interface Point {
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly value: number | Histogram;
}

describe('OpenTelemetry metrics', () => {
  const reader = new OnDemandReader();
  // As the README shows it, but served by the test's own server on a free port.
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [reader, prometheus] });

  before(() => {
    assert.equal(metrics.setGlobalMeterProvider(provider), true);
  });
  after(async () => {
    metrics.disable();
    await provider.shutdown();
  });

  async function collect(): Promise<Map<string, { unit: string; points: Point[] }>> {
    const { resourceMetrics, errors } = await reader.collect();
    assert.deepEqual(errors, []);
    const found = new Map<string, { unit: string; points: Point[] }>();
    for (const scope of resourceMetrics.scopeMetrics) {
      assert.equal(scope.scope.name, 'leaselocker');
      for (const metric of scope.metrics) {
        const points = (metric.dataPoints as DataPoint<number | Histogram>[]).map((p) => ({ attributes: p.attributes, value: p.value }));
        found.set(metric.descriptor.name, { unit: metric.descriptor.unit, points });
        if (metric.dataPointType === DataPointType.HISTOGRAM) assert.equal(metric.descriptor.unit, 's');
      }
    }
    return found;
  }

  const count = (point: Point | undefined): number => {
    const value = point?.value;
    return typeof value === 'number' ? value : (value?.count ?? 0);
  };

  it('records waits, holds, acquisitions, losses by reason, renewals and their failures', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    const b = locker('b');
    const lease = { 'leaselocker.lease': a.identity === 'a' ? store.lockFor('a').describe() : '' };
    await a.lock();
    assert.equal(await b.tryLock(), undefined);
    await clock.advance(2_000); // a renewal
    store.failNext('update', apiError(503, 'ServiceUnavailable'));
    await clock.advance(2_000); // a failed renewal
    await clock.advance(2_000); // its retry
    store.writeOutside(heldBy('intruder'));
    await clock.advance(2_000); // lost: taken
    await clock.advance(16_000);
    const hold = await a.lock();
    await clock.advance(3_000);
    await hold.release();

    const found = await collect();
    const points = (name: string): Point[] => found.get(name)?.points ?? [];
    const where = (name: string, attributes: Record<string, string>): Point | undefined =>
      points(name).find((p) => Object.entries({ ...lease, ...attributes }).every(([k, v]) => p.attributes[k] === v));

    assert.equal(count(where('leaselocker.acquisitions', {})), 2);
    assert.equal(count(where('leaselocker.losses', { 'leaselocker.loss.reason': 'taken' })), 1);
    assert.equal(points('leaselocker.losses').length, 1, 'no loss recorded for a release');
    assert.equal(count(where('leaselocker.lock.duration', { 'leaselocker.operation': 'lock', 'leaselocker.outcome': 'acquired' })), 2);
    assert.equal(count(where('leaselocker.lock.duration', { 'leaselocker.operation': 'tryLock', 'leaselocker.outcome': 'busy' })), 1);
    assert.equal(count(where('leaselocker.hold.duration', { 'leaselocker.end': 'taken' })), 1);
    const released = where('leaselocker.hold.duration', { 'leaselocker.end': 'released' })?.value;
    assert.ok(typeof released === 'object');
    assert.equal(released.count, 1);
    assert.equal(released.sum, 3, 'held 3 s, on the locker clock');
    assert.equal(count(where('leaselocker.renewal.failures', {})), 1);
    assert.ok(count(where('leaselocker.renewal.duration', {})) >= 2);
  });

  it('exports to Prometheus under the names the README gives', async () => {
    const { clock, locker } = memoryFixture();
    const a = locker('a');
    const hold = await a.lock();
    await clock.advance(2_000);
    await hold.release();
    const server = createServer((request, response) => prometheus.getMetricsRequestHandler(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const text = await (await fetch(`http://127.0.0.1:${String(port)}/metrics`)).text();
      for (const name of [
        'leaselocker_lock_duration_bucket',
        'leaselocker_hold_duration_count',
        'leaselocker_acquisitions_total',
        'leaselocker_renewal_duration_sum',
      ]) {
        assert.match(text, new RegExp(`^${name}\\{[^}]*leaselocker_lease="memory/lock"`, 'm'), `${name} in:\n${text}`);
      }
      assert.match(text, /^leaselocker_hold_duration_count\{[^}]*leaselocker_end="released"[^}]*\} [1-9]/m);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
