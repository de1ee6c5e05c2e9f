import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { settle } from './helpers/fake-clock.js';
import { memoryFixture } from './helpers/memory-locker.js';

import { metrics } from '@opentelemetry/api';
import type { MeterProvider } from '@opentelemetry/api';

describe('an instrument that throws (a faulty MeterProvider) cannot corrupt the lock', () => {
  after(() => metrics.disable());

  it('lock() either resolves a hold or rejects with nothing held; unlock() then settles', async () => {
    const boom = (): never => { throw new Error('exporter bug'); };
    const faulty = { getMeter: () => ({ createHistogram: () => ({ record: boom }), createCounter: () => ({ add: boom }) }) };
    metrics.setGlobalMeterProvider(faulty as unknown as MeterProvider);
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    const outcome = await a.lock().then(() => 'resolved', (e: unknown) => e);
    metrics.disable();
    if (outcome instanceof Error) {
      // Rejected: then nothing may be left held or renewing, and the locker must be usable.
      await clock.advance(20_000);
      const holder = store.record?.holderIdentity;
      const renewals = store.count('update', 'a');
      const unlocked = await Promise.race([a.unlock().then(() => 'settled'), settle(20).then(() => 'hangs')]);
      const relock = await a.tryLock().then(() => 'ok', (e: unknown) => (e as Error).message);
      assert.deepEqual({ holder, unlocked, relock }, { holder: '', unlocked: 'settled', relock: 'ok' },
        `lock() rejected (${outcome.message}); 20 s later the lease still names a (${renewals} renewals), unlock() ${unlocked}, tryLock(): ${relock}`);
    }
  });
});
