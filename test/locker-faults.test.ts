// LeaseLocker over HTTP against the emulator's injected faults: errors, silence, lost answers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseApiError, LeaseLocker, LeaseRequestError, LockLostError } from '../src/index.js';
import type { LeaseLockerOptions } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator } from '../src/testing/index.js';
import { waitFor } from './helpers/wait-for.js';
import { fastTiming } from './suites/locker-behaviour.js';
import { uniqueLeaseName } from './suites/lease-server.js';

describe('LeaseLocker under API faults (emulator)', () => {
  let emulator: LeaseApiEmulator;
  const lockers: LeaseLocker[] = [];
  before(async () => { emulator = await startLeaseApiEmulator(); });
  after(async () => {
    emulator.faults.clear();
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    await emulator.close();
  });
  const locker = (name: string, owner: string, options: LeaseLockerOptions = {}, kubeConfig = emulator.kubeConfig()): LeaseLocker => {
    const created = new LeaseLocker(kubeConfig, { namespace: 'default', name }, owner, { ...fastTiming, ...options });
    lockers.push(created);
    return created;
  };

  it('declares the loss when renewals keep failing, before the lease could expire for others', async () => {
    const name = uniqueLeaseName('failing-renewals');
    const a = locker(name, 'a');
    await a.lock();
    let lastRenewal = performance.now();
    a.on('renewed', () => { lastRenewal = performance.now(); });
    const lost = new Promise<number>((resolve) => a.once('lost', () => resolve(performance.now())));
    const fault = emulator.faults.fail({ status: 503 }, { verb: 'update', name });
    const lostAt = await lost;
    fault.clear();
    const sinceRenewal = lostAt - lastRenewal;
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
    assert.ok(sinceRenewal < fastTiming.leaseDurationMs!, `lost ${Math.round(sinceRenewal)} ms after the last renewal`);
    assert.ok(sinceRenewal >= fastTiming.renewDeadlineMs! - 50, `kept trying until the deadline (${Math.round(sinceRenewal)} ms)`);
    assert.ok(emulator.countRequests({ verb: 'update', name }) >= 4, 'retried within the deadline');
  });

  it('lock() retries 500 and 429 and then acquires', async () => {
    const name = uniqueLeaseName('transient');
    emulator.faults.fail({ status: 500, times: 1 }, { verb: 'list', name });
    emulator.faults.fail({ status: 429, times: 1, retryAfterSeconds: 0 }, { verb: 'list', name });
    const a = locker(name, 'a');
    await a.lock();
    assert.equal(a.isLocked, true);
    assert.equal(emulator.countRequests({ verb: 'list', name }), 3);
    await a.unlock();
  });

  it('fails lock() at once with 401 for an unknown token', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'e', server: emulator.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-known-token' }],
      contexts: [{ name: 'c', cluster: 'e', user: 'u' }],
      currentContext: 'c',
    });
    const a = locker(uniqueLeaseName('unauthorized'), 'a', {}, kubeConfig);
    await assert.rejects(a.lock(), (e: unknown) => e instanceof LeaseApiError && e.statusCode === 401 && e.reason === 'Unauthorized');
  });

  it('times out requests to a silent server: tryLock rejects, lock() waits it out', async () => {
    const name = uniqueLeaseName('silent');
    const hole = emulator.faults.blackhole({ name });
    const a = locker(name, 'a', { requestTimeoutMs: 150 });
    await assert.rejects(a.tryLock(), (e: unknown) => e instanceof LeaseRequestError && e.timedOut && e.code === 'REQUEST_FAILED');
    const locking = a.lock();
    await waitFor(() => emulator.requests.filter((r) => r.name === name).length >= 2, 'a retry after the timeout');
    hole.clear();
    await locking;
    assert.equal(a.isLocked, true);
    await a.unlock();
  });

  it('declares the loss at the deadline while renewal requests go unanswered', async () => {
    const name = uniqueLeaseName('silent-renewal');
    const a = locker(name, 'a');
    await a.lock();
    const hole = emulator.faults.blackhole({ name, verb: 'update' });
    await waitFor(() => !a.isLocked, 'the loss', 4_000);
    hole.clear();
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
  });

  it('keeps the lock after a renewal whose answer was lost, and releases it', async () => {
    const name = uniqueLeaseName('lost-answer');
    const a = locker(name, 'a', { requestTimeoutMs: 200 });
    await a.lock();
    emulator.faults.latency(400, { verb: 'update', name, phase: 'response', times: 1 });
    emulator.resetRequests();
    await waitFor(() => emulator.countRequests({ verb: 'get', name }) >= 1 && emulator.countRequests({ verb: 'update', name }) >= 2, 'a read and a renewal after the timeout');
    assert.equal(a.isLocked, true);
    assert.equal(await a.unlock(), true);
    assert.equal(emulator.getLease('default', name)?.spec.holderIdentity, '');
  });

  it('costs one write per retry period while holding, and no read', async () => {
    const name = uniqueLeaseName('cost');
    const a = locker(name, 'a', { leaseDurationMs: 2_000, renewDeadlineMs: 1_000, retryPeriodMs: 100 });
    await a.lock();
    emulator.resetRequests();
    let renewals = 0;
    a.on('renewed', () => { renewals += 1; });
    await waitFor(() => renewals >= 8, 'eight renewals');
    assert.equal(emulator.countRequests({ name, verb: 'get' }), 0);
    assert.equal(emulator.countRequests({ name, verb: 'update' }), renewals);
    await a.unlock();
  });

  it('leaves nothing running: a process using it exits by itself', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = `
      import { LeaseLocker } from './src/index.ts';
      import { startLeaseApiEmulator } from './src/testing/index.ts';
      const emulator = await startLeaseApiEmulator();
      const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 100 };
      const a = new LeaseLocker(emulator.kubeConfig(), { namespace: 'default', name: 'exit' }, 'a', timing);
      const b = new LeaseLocker(emulator.kubeConfig(), { namespace: 'default', name: 'exit' }, 'b', timing);
      await a.lock();
      await new Promise((resolve) => a.once('renewed', resolve));
      await b.lock({ signal: AbortSignal.timeout(250) }).catch(() => undefined);
      console.log(await b.tryLock(), await a.unlock());
      await emulator.close();
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), encoding: 'utf8', timeout: 15_000 });
    assert.equal(child.error, undefined, 'exited before the deadline');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'false true');
  });
});
