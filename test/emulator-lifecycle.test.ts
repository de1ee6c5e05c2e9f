// Starting, waiting on and closing the emulator; nothing must outlive close().

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

import { startLeaseApiEmulator } from '../src/testing/index.js';
import { runUntilExit } from './helpers/child-exit.js';
import { leasePath, leasesApi, raw, startEmulator } from './helpers/emulator-client.js';

const NS = 'default';

describe('lifecycle', () => {
  test('after close() nothing keeps the process alive', async () => {
    const fixture = fileURLToPath(new URL('./helpers/emulator-exit-fixture.ts', import.meta.url));
    // The fixture prints its result after close(); from then on it must exit by itself.
    const child = await runUntilExit(['--import', 'tsx', fixture]);
    assert.notEqual(child.code, undefined, `the process did not exit by itself; stderr: ${child.stderr}`);
    assert.equal(child.code, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { held: 'reset', slow: 'reset', waiting: 'rejected', watchEnded: true });
  });

  test('close() is idempotent, works through await using, and refuses later connections', async () => {
    let url: string;
    {
      await using emulator = await startLeaseApiEmulator();
      url = emulator.url;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await raw(emulator, 'GET', '/healthz')).status, 200);
    }
    await assert.rejects(fetch(`${url}/healthz`));
    const emulator = await startLeaseApiEmulator();
    await Promise.all([emulator.close(), emulator.close()]);
    await emulator.close();
  });

  test('an aborted signal closes the emulator', async () => {
    const controller = new AbortController();
    const emulator = await startLeaseApiEmulator({ signal: controller.signal });
    controller.abort();
    await emulator.close();
    await assert.rejects(fetch(`${emulator.url}/healthz`));
    await assert.rejects(startLeaseApiEmulator({ signal: AbortSignal.abort() }));
  });

  test('bad options are TypeError or RangeError naming the option', async () => {
    await assert.rejects(startLeaseApiEmulator({ port: 70000 }), { name: 'RangeError', message: /port/ });
    await assert.rejects(startLeaseApiEmulator({ historyLimit: -1 }), { name: 'RangeError', message: /historyLimit/ });
    await assert.rejects(startLeaseApiEmulator({ bookmarkIntervalMs: Number.NaN }), { name: 'RangeError', message: /bookmarkIntervalMs/ });
    await assert.rejects(startLeaseApiEmulator({ namespaces: ['Bad_Name'] }), { name: 'RangeError', message: /namespaces/ });
    await assert.rejects(startLeaseApiEmulator({ host: '' }), { name: 'TypeError', message: /host/ });
  });

  test('a configured port and namespace reach the kubeconfig', async (t) => {
    const probe = await startLeaseApiEmulator();
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const emulator = await startEmulator(t, { port, namespaces: ['team-a'] });
    assert.equal(emulator.url, `http://127.0.0.1:${port}`);
    const config = emulator.kubeConfig();
    assert.equal(config.getCurrentCluster()?.server, emulator.url);
    assert.equal(config.getCurrentCluster()?.skipTLSVerify, true);
    assert.equal(config.getContextObject(config.getCurrentContext())?.namespace, 'team-a');
  });
});

describe('waitFor', () => {
  test('resolves when a write makes the condition true', async (t) => {
    const emulator = await startEmulator(t);
    const seen = emulator.waitFor((e) => e.getLease(NS, 'lock')?.spec.holderIdentity === 'b');
    emulator.putLease(NS, { metadata: { name: 'lock' }, spec: { holderIdentity: 'a' } });
    await leasesApi(emulator).patchNamespacedLease({
      name: 'lock',
      namespace: NS,
      body: [{ op: 'replace', path: '/spec/holderIdentity', value: 'b' }],
    });
    await seen;
  });

  test('rejects with TimeoutError after timeoutMs, with the signal\'s reason when aborted, and on close', async () => {
    const emulator = await startLeaseApiEmulator();
    await assert.rejects(emulator.waitFor(() => false, { timeoutMs: 20 }), { name: 'TimeoutError' });
    const reason = new Error('stop waiting');
    await assert.rejects(emulator.waitFor(() => false, { signal: AbortSignal.abort(reason) }), reason);
    const pending = emulator.waitFor(() => false);
    await emulator.close();
    await assert.rejects(pending, /closed/);
    await assert.rejects(emulator.waitFor(() => true), /closed/);
  });

  test('counts requests as they arrive', async (t) => {
    const emulator = await startEmulator(t);
    const twoReads = emulator.waitFor((e) => e.countRequests({ verb: 'get', status: 404 }) === 2);
    await raw(emulator, 'GET', leasePath(NS, 'a'));
    await raw(emulator, 'GET', leasePath(NS, 'b'));
    await twoReads;
  });
});
