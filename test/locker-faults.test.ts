// LeaseLocker over HTTP against the emulator's injected faults: errors, silence, lost answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseApiError, LeaseLocker, LeaseRequestError, LockLostError, systemClock } from '../src/index.js';
import type { Clock, LeaseLockerOptions } from '../src/index.js';
import { emulatorSuite } from './helpers/emulator-client.js';
import { runUntilExit } from './helpers/child-exit.js';
import { waitFor } from './helpers/wait-for.js';
import { fastTiming } from './suites/locker-behaviour.js';
import { uniqueLeaseName } from './suites/lease-server.js';

describe('LeaseLocker under API faults (emulator)', () => {
  const suite = emulatorSuite();
  const locker = (name: string, owner: string, options: LeaseLockerOptions = {}, kubeConfig = suite.emulator.kubeConfig()): LeaseLocker => {
    const created = new LeaseLocker(kubeConfig, { namespace: 'default', name }, owner, { ...fastTiming, ...options });
    return suite.track(created);
  };

  it('declares the loss when renewals keep failing, before the lease could expire for others', async () => {
    // Measured on the instants the loop itself uses: an injected clock whose wall time is its
    // monotonic time plus a fixed offset, so the renewTime of each write tells exactly when that
    // renewal started, however late its answer or its 'renewed' event came on a loaded machine.
    const offset = Math.round(Date.now() - performance.now());
    const clock: Clock = { now: () => performance.now(), wallTime: () => offset + performance.now(), sleep: async (ms, signal) => systemClock.sleep(ms, signal) };
    const timing = { leaseDurationMs: 4_000, renewDeadlineMs: 1_500, retryPeriodMs: 300, requestTimeoutMs: 1_000 };
    const name = uniqueLeaseName('failing-renewals');
    const a = locker(name, 'a', { ...timing, clock });
    await a.lock();
    let lastRenewalStart: Date | string = suite.emulator.getLease('default', name)?.spec.renewTime ?? assert.fail('no renewTime');
    a.on('renewed', ({ renewTime }) => { lastRenewalStart = renewTime ?? assert.fail('a renewal without renewTime'); });
    const lost = new Promise<number>((resolve) => a.once('lost', () => resolve(clock.now())));
    const fault = suite.emulator.faults.fail({ status: 503 }, { verb: 'update', name });
    const lostAt = await lost;
    fault.clear();
    const sinceRenewal = lostAt - (new Date(lastRenewalStart).getTime() - offset);
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
    assert.ok(sinceRenewal >= timing.renewDeadlineMs - 1, `kept trying until the deadline (${sinceRenewal.toFixed(1)} ms)`);
    assert.ok(sinceRenewal < timing.leaseDurationMs, `lost ${Math.round(sinceRenewal)} ms after the last renewal started`);
    // At 300 ms apart about five fit in the deadline; a loaded machine may manage fewer.
    assert.ok(suite.emulator.countRequests({ verb: 'update', name, status: 503 }) >= 2, 'retried within the deadline');
  });

  it('lock() retries 500 and 429 and then acquires', async () => {
    const name = uniqueLeaseName('transient');
    suite.emulator.faults.fail({ status: 500, times: 1 }, { verb: 'list', name });
    suite.emulator.faults.fail({ status: 429, times: 1, retryAfterSeconds: 0 }, { verb: 'list', name });
    const a = locker(name, 'a');
    await a.lock();
    assert.equal(a.isLocked, true);
    assert.equal(suite.emulator.countRequests({ verb: 'list', name }), 3);
    await a.unlock();
  });

  it('fails lock() at once with 401 for an unknown token', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'e', server: suite.emulator.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-known-token' }],
      contexts: [{ name: 'c', cluster: 'e', user: 'u' }],
      currentContext: 'c',
    });
    const a = locker(uniqueLeaseName('unauthorized'), 'a', {}, kubeConfig);
    await assert.rejects(a.lock(), (e: unknown) => e instanceof LeaseApiError && e.statusCode === 401 && e.reason === 'Unauthorized');
  });

  it('times out requests to a silent server: tryLock rejects, lock() waits it out', async () => {
    const name = uniqueLeaseName('silent');
    const hole = suite.emulator.faults.blackhole({ name });
    const a = locker(name, 'a', { requestTimeoutMs: 150 });
    await assert.rejects(a.tryLock(), (e: unknown) => e instanceof LeaseRequestError && e.timedOut && e.code === 'REQUEST_FAILED');
    const locking = a.lock();
    await waitFor(() => suite.emulator.requests.filter((r) => r.name === name).length >= 2, 'a retry after the timeout');
    hole.clear();
    await locking;
    assert.equal(a.isLocked, true);
    await a.unlock();
  });

  it('declares the loss at the deadline while renewal requests go unanswered', async () => {
    const name = uniqueLeaseName('silent-renewal');
    const a = locker(name, 'a');
    await a.lock();
    const hole = suite.emulator.faults.blackhole({ name, verb: 'update' });
    // The signal, not isLocked: isLocked turns false at the deadline, the signal when the timers run.
    await waitFor(() => a.signal.aborted, 'the loss', 4_000);
    hole.clear();
    assert.equal(a.isLocked, false);
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
  });

  it('keeps the lock after a renewal whose answer was lost, and releases it', async () => {
    const name = uniqueLeaseName('lost-answer');
    const a = locker(name, 'a', { requestTimeoutMs: 200 });
    await a.lock();
    suite.emulator.faults.latency(400, { verb: 'update', name, phase: 'response', times: 1 });
    suite.emulator.resetRequests();
    await waitFor(() => suite.emulator.countRequests({ verb: 'get', name }) >= 1 && suite.emulator.countRequests({ verb: 'update', name }) >= 2, 'a read and a renewal after the timeout');
    assert.equal(a.isLocked, true);
    assert.equal(await a.unlock(), true);
    assert.equal(suite.emulator.getLease('default', name)?.spec.holderIdentity, '');
  });

  it('costs one write per retry period while holding, and no read', async () => {
    const name = uniqueLeaseName('cost');
    const a = locker(name, 'a', { leaseDurationMs: 2_000, renewDeadlineMs: 1_000, retryPeriodMs: 100 });
    await a.lock();
    suite.emulator.resetRequests();
    let renewals = 0;
    a.on('renewed', () => { renewals += 1; });
    await waitFor(() => renewals >= 8, 'eight renewals');
    assert.equal(suite.emulator.countRequests({ name, verb: 'get' }), 0);
    assert.equal(suite.emulator.countRequests({ name, verb: 'update' }), renewals);
    await a.unlock();
  });

  it('leaves nothing running: a process using it exits by itself', async () => {
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
    // Measured from the child's result, printed when its work is done: a timer or socket
    // left behind keeps it alive past the deadline, however slowly a loaded machine started it.
    const child = await runUntilExit(['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url) });
    assert.notEqual(child.code, undefined, `did not exit by itself (${Math.round(child.exitAfterOutputMs ?? -1)} ms after its result); stderr: ${child.stderr}`);
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'undefined true');
  });
});
