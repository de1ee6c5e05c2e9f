import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import type { V1Lease, V1LeaseSpec } from '@kubernetes/client-node';
import { LeaseApiError, LeaseLocker, LockLostError, MicroTime } from '../../src/index.js';
import type { LeaseLockerOptions } from '../../src/index.js';
import { waitFor } from '../helpers/wait-for.js';
import type { LeaseServer } from './lease-server.js';
import { uniqueLeaseName } from './lease-server.js';

/** Short timings so that takeovers and losses happen within a test's patience. */
export const fastTiming: LeaseLockerOptions = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300, requestTimeoutMs: 1_000 };

/**
 * The library's behaviour against a Lease API server, through the real client-node. Written
 * once, run against the emulator and a real kube-apiserver.
 */
export function lockerBehaviourSuite(title: string, start: () => Promise<LeaseServer & { close(): Promise<void> }>): void {
  describe(title, () => {
    let server: LeaseServer & { close(): Promise<void> };
    let admin: CoordinationV1Api;
    const lockers: LeaseLocker[] = [];

    before(async () => {
      server = await start();
      admin = server.kubeConfig().makeApiClient(CoordinationV1Api);
    });
    after(async () => {
      await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
      await server.close();
    });

    const locker = (name: string, owner: string, options: LeaseLockerOptions = {}, kubeConfig = server.kubeConfig()): LeaseLocker => {
      const created = new LeaseLocker(kubeConfig, { namespace: server.namespace, name }, owner, { ...fastTiming, ...options });
      lockers.push(created);
      return created;
    };
    const read = async (name: string): Promise<V1Lease> => admin.readNamespacedLease({ name, namespace: server.namespace });
    /** Changes the Lease as another client would: read, change, write; again when a renewal wrote in between (409). */
    const writeOutside = async (name: string, change: (lease: V1Lease) => void): Promise<void> => {
      for (let attempt = 1; ; attempt += 1) {
        const lease = await read(name);
        change(lease);
        try {
          await admin.replaceNamespacedLease({ name, namespace: server.namespace, body: lease });
          return;
        } catch (error) {
          if ((error as { code?: unknown }).code !== 409 || attempt >= 5) throw error;
        }
      }
    };

    it('lets contending lockers take turns, never two inside at once, with growing fencing tokens', async () => {
      const name = uniqueLeaseName('contention');
      const contenders = ['a', 'b', 'c'].map((id) => locker(name, id));
      let inside = 0;
      let maxInside = 0;
      const tokens: number[] = [];
      await Promise.all(contenders.map(async (l) => {
        for (let round = 0; round < 3; round += 1) {
          await l.withLock(async () => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            tokens.push(l.fencingToken ?? -1);
            await delay(20);
            inside -= 1;
          });
        }
      }));
      assert.equal(maxInside, 1);
      assert.equal(tokens.length, 9);
      assert.deepEqual(tokens, [...tokens].sort((x, y) => x - y));
      assert.equal(new Set(tokens).size, 9, 'every hold has its own token');
    });

    it('tryLock is false while another holds the lease and true once it is released', async () => {
      const name = uniqueLeaseName('trylock');
      const a = locker(name, 'a');
      const b = locker(name, 'b');
      assert.ok(await a.tryLock());
      assert.equal(await b.tryLock(), undefined);
      assert.equal(b.isLocked, false);
      assert.equal(await a.unlock(), true);
      assert.ok(await b.tryLock());
      assert.equal(b.fencingToken, 1);
      await b.unlock();
    });

    it('writes the lease as client-go does: MicroTime, whole seconds, release keeps transitions', async () => {
      const name = uniqueLeaseName('wire');
      const a = locker(name, 'pod-a');
      await a.lock();
      const held = await read(name);
      assert.equal(held.spec?.holderIdentity, 'pod-a');
      assert.equal(held.spec?.leaseDurationSeconds, 2);
      assert.equal(held.spec?.leaseTransitions, 0);
      assert.match(String(held.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.match(String(held.spec?.acquireTime), /\.\d{6}Z$/);
      await waitFor(async () => String((await read(name)).spec?.renewTime) !== String(held.spec?.renewTime), 'a renewal');
      const renewed = await read(name);
      assert.equal(String(renewed.spec?.acquireTime), String(held.spec?.acquireTime), 'acquireTime kept while renewing');
      assert.equal(await a.unlock(), true);
      const released = await read(name);
      assert.equal(released.spec?.holderIdentity, '');
      assert.equal(released.spec?.leaseDurationSeconds, 1);
      assert.equal(released.spec?.leaseTransitions, 0);
    });

    it('keeps labels and annotations it does not own', async () => {
      const name = uniqueLeaseName('foreign');
      await admin.createNamespacedLease({
        namespace: server.namespace,
        body: { metadata: { name, labels: { team: 'data' }, annotations: { note: 'keep me' } }, spec: {} },
      });
      const a = locker(name, 'a');
      await a.lock();
      await a.unlock();
      const lease = await read(name);
      assert.equal(lease.metadata?.labels?.['team'], 'data');
      assert.equal(lease.metadata?.annotations?.['note'], 'keep me');
    });

    it('takes over a lease whose holder stopped renewing, once it has expired', async () => {
      const name = uniqueLeaseName('takeover');
      const renewTime = new MicroTime(Date.now());
      await admin.createNamespacedLease({
        namespace: server.namespace,
        body: { metadata: { name }, spec: { holderIdentity: 'crashed', leaseDurationSeconds: 1, leaseTransitions: 5, renewTime, acquireTime: renewTime } },
      });
      const b = locker(name, 'b');
      assert.equal(await b.tryLock(), undefined);
      const started = performance.now();
      await b.lock();
      assert.ok(performance.now() - started >= 600, 'waited for the expiry');
      assert.equal(b.fencingToken, 6);
      assert.equal((await read(name)).spec?.holderIdentity, 'b');
      await b.unlock();
    });

    it('a waiter learns of a release by another process through the watch, not by polling', async () => {
      const name = uniqueLeaseName('watch-handoff');
      const renewTime = new MicroTime(Date.now());
      await admin.createNamespacedLease({
        namespace: server.namespace,
        body: { metadata: { name }, spec: { holderIdentity: 'elsewhere', leaseDurationSeconds: 60, leaseTransitions: 2, renewTime, acquireTime: renewTime } },
      });
      // Polling would first look again after 10 s, and the lease expires after 60 s: only the
      // watch can make this lock() resolve within waitFor's 5 s.
      const a = locker(name, 'a', { leaseDurationMs: 60_000, renewDeadlineMs: 30_000, retryPeriodMs: 10_000 });
      let held = false;
      const waiting = a.lock().then(() => { held = true; });
      await delay(200);
      assert.equal(held, false);
      await writeOutside(name, (lease) => { lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 }; });
      await waitFor(() => held, 'the waiter to take the released lease');
      await waiting;
      assert.equal(a.fencingToken, 3);
      await a.unlock();
    });

    it('declares the lock lost when someone else writes over the lease', async () => {
      const name = uniqueLeaseName('taken');
      const a = locker(name, 'a');
      await a.lock();
      const lost: LockLostError[] = [];
      a.on('lost', (e) => lost.push(e));
      await writeOutside(name, (lease) => { lease.spec = { ...lease.spec, holderIdentity: 'intruder' }; });
      await waitFor(() => lost.length === 1, 'the loss');
      assert.equal(lost[0]?.reason, 'taken');
      assert.equal(lost[0]?.holder, 'intruder');
      assert.equal(a.signal.reason, lost[0]);
      assert.equal(a.isLocked, false);
      assert.equal(await a.unlock(), false);
      assert.equal((await read(name)).spec?.holderIdentity, 'intruder', 'never cleared');
    });

    it('declares the lock lost when the lease is deleted, and does not recreate it', async () => {
      const name = uniqueLeaseName('deleted');
      const a = locker(name, 'a');
      await a.lock();
      await admin.deleteNamespacedLease({ name, namespace: server.namespace });
      // The signal, not isLocked: isLocked turns false at the deadline, the signal when the timers run.
      await waitFor(() => a.signal.aborted, 'the loss');
      assert.equal(a.isLocked, false);
      assert.equal((a.signal.reason as LockLostError).reason, 'deleted');
      await delay(fastTiming.retryPeriodMs! * 2);
      await assert.rejects(read(name), (e: unknown) => (e as { code?: number }).code === 404);
    });

    it('restarts fencing tokens at 0 when the Lease object is recreated (the documented caveat)', async () => {
      const name = uniqueLeaseName('fencing');
      const a = locker(name, 'a');
      await a.lock();
      await a.unlock();
      await a.lock();
      assert.equal(a.fencingToken, 1);
      await a.unlock();
      await admin.deleteNamespacedLease({ name, namespace: server.namespace });
      await a.lock();
      assert.equal(a.fencingToken, 0);
      await a.unlock();
    });

    it('unlockWithRetry releases; check() is quiet while renewals succeed', async () => {
      const name = uniqueLeaseName('retry');
      const a = locker(name, 'a');
      await a.lock();
      a.check(0);
      assert.equal(await a.unlockWithRetry(), true);
      assert.equal((await read(name)).spec?.holderIdentity, '');
    });

    it('an aborted lock() rejects with the reason and writes nothing', async () => {
      const name = uniqueLeaseName('abort');
      const a = locker(name, 'a');
      await a.lock();
      const before = (await read(name)).metadata?.resourceVersion;
      const b = locker(name, 'b');
      const controller = new AbortController();
      const waiting = b.lock({ signal: controller.signal });
      await delay(50);
      controller.abort(new Error('stop waiting'));
      await assert.rejects(waiting, /stop waiting/);
      await a.unlock();
      assert.notEqual((await read(name)).metadata?.resourceVersion, before);
      assert.equal((await read(name)).spec?.holderIdentity, '');
    });

    it('works with only the verbs the README documents (get, list, watch, create, update)', async () => {
      const kubeConfig = await server.userWith(['get', 'list', 'watch', 'create', 'update']);
      const name = uniqueLeaseName('rbac');
      const a = locker(name, 'a', {}, kubeConfig);
      const b = locker(name, 'b', {}, kubeConfig);
      await a.lock();
      const waiting = b.lock(); // waits on the watch
      await waitFor(async () => String((await read(name)).spec?.renewTime) !== String((await read(name)).spec?.acquireTime), 'a renewal');
      assert.equal(await a.unlock(), true);
      await waiting;
      assert.equal(await b.unlock(), true);
    });

    it('still works without list and watch, by polling', async () => {
      const kubeConfig = await server.userWith(['get', 'create', 'update']);
      const name = uniqueLeaseName('rbac-poll');
      const renewTime = new MicroTime(Date.now());
      await admin.createNamespacedLease({
        namespace: server.namespace,
        body: { metadata: { name }, spec: { holderIdentity: 'elsewhere', leaseDurationSeconds: 60, leaseTransitions: 4, renewTime, acquireTime: renewTime } },
      });
      // The holder is another client: a release by a locker of this process would wake the
      // waiter at once, whether it polls or not. Here only polling (every 300 ms) can make lock()
      // resolve within waitFor's 5 s: the waiter may not watch, and the lease expires after 60 s.
      const a = locker(name, 'a', { leaseDurationMs: 60_000, renewDeadlineMs: 30_000, retryPeriodMs: 300 }, kubeConfig);
      let held = false;
      const waiting = a.lock({ signal: AbortSignal.timeout(10_000) }).then(() => { held = true; });
      await delay(400);
      assert.equal(held, false);
      await writeOutside(name, (lease) => { lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 }; });
      await waitFor(() => held, 'the polling waiter to take the released lease');
      await waiting;
      assert.equal(a.fencingToken, 5);
      assert.equal(await a.unlock(), true);
    });

    it('fails lock() promptly with a typed 403 when update is not allowed', async () => {
      const kubeConfig = await server.userWith(['get', 'create']);
      const name = uniqueLeaseName('forbidden');
      await admin.createNamespacedLease({ namespace: server.namespace, body: { metadata: { name }, spec: {} } });
      const a = locker(name, 'a', {}, kubeConfig);
      const started = performance.now();
      await assert.rejects(a.lock(), (e: unknown) => {
        assert.ok(e instanceof LeaseApiError);
        assert.equal(e.statusCode, 403);
        assert.equal(e.reason, 'Forbidden');
        assert.match(e.statusMessage, /cannot update resource "leases"/);
        return true;
      });
      assert.ok(performance.now() - started < 2_000);
      assert.equal(a.isLocked, false);
    });

    describe('leases edited by others into odd states', () => {
      /** A retry period long enough that a retried error cannot pass for one rejected at once, even on a loaded machine. */
      const slowRetries = { leaseDurationMs: 10_000, renewDeadlineMs: 8_000, retryPeriodMs: 5_000 } as const;
      /** Stores a Lease as another client would, `spec` as given. */
      const createOutside = async (name: string, spec?: V1LeaseSpec): Promise<void> => {
        await admin.createNamespacedLease({ namespace: server.namespace, body: spec === undefined ? { metadata: { name } } : { metadata: { name }, spec } });
      };
      /** Fails the test if the two lockers of `pair` ever both hold the lease while `body` runs. */
      const neverTwo = async (pair: readonly [LeaseLocker, LeaseLocker], body: () => Promise<void>): Promise<void> => {
        let both = false;
        const watcher = setInterval(() => { if (pair[0].isLocked && pair[1].isLocked) both = true; }, 2);
        try {
          await body();
        } finally {
          clearInterval(watcher);
        }
        assert.equal(both, false, 'two lockers held the lease at the same time');
      };

      it('a Lease without spec is taken and gets a whole record', async () => {
        const name = uniqueLeaseName('no-spec');
        await createOutside(name);
        const a = locker(name, 'a');
        assert.ok(await a.tryLock());
        assert.equal(a.fencingToken, 1);
        const held = await read(name);
        assert.equal(held.spec?.holderIdentity, 'a');
        assert.equal(held.spec?.leaseDurationSeconds, 2);
        assert.match(String(held.spec?.renewTime), /\.\d{6}Z$/);
        assert.equal(await a.unlock(), true);
      });

      it('a holder named without times or duration is presumed alive for our own lease duration', async () => {
        const name = uniqueLeaseName('bare-holder');
        await createOutside(name, { holderIdentity: 'ghost' });
        const a = locker(name, 'a');
        const firstSeen = performance.now();
        assert.equal(await a.tryLock(), undefined, 'someone is named holder: not free');
        await a.lock();
        assert.ok(performance.now() - firstSeen >= fastTiming.leaseDurationMs! - 100, `taken ${Math.round(performance.now() - firstSeen)} ms after it was first seen`);
        assert.equal(a.fencingToken, 1);
        assert.equal(await a.unlock(), true);
      });

      it('a huge leaseDurationSeconds (2^31 - 1) keeps a waiter waiting quietly, and a release still wakes it', async () => {
        const name = uniqueLeaseName('huge-duration');
        const renewTime = new MicroTime(Date.now());
        await createOutside(name, { holderIdentity: 'forever', leaseDurationSeconds: 2_147_483_647, renewTime, acquireTime: renewTime });
        const warnings: Error[] = [];
        const onWarning = (warning: Error): void => { warnings.push(warning); };
        process.on('warning', onWarning);
        try {
          const a = locker(name, 'a');
          assert.equal(await a.tryLock(), undefined);
          let held = false;
          const waiting = a.lock({ signal: AbortSignal.timeout(10_000) }).then(() => { held = true; });
          const busy = performance.eventLoopUtilization();
          await delay(500);
          const utilization = performance.eventLoopUtilization(busy).utilization;
          assert.equal(held, false);
          assert.ok(utilization < 0.5, `the event loop was ${Math.round(utilization * 100)} % busy while waiting: a timer loop?`);
          await writeOutside(name, (lease) => { lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 }; });
          await waitFor(() => held, 'the waiter to take the released lease');
          await waiting;
          assert.equal(await a.unlock(), true);
        } finally {
          process.off('warning', onWarning);
        }
        assert.deepEqual(warnings.map((w) => w.name), [], 'no TimeoutOverflowWarning or other warning');
      });

      it('a holderIdentity of 10 kB: waited for, reported on loss, and usable as an owner', async () => {
        const name = uniqueLeaseName('long-holder');
        const long = 'h'.repeat(10 * 1024);
        const a = locker(name, 'a');
        await a.lock();
        const lost = new Promise<LockLostError>((resolve) => a.once('lost', resolve));
        await writeOutside(name, (lease) => { lease.spec = { ...lease.spec, holderIdentity: long }; });
        const error = await lost;
        assert.equal(error.reason, 'taken');
        assert.equal(error.holder, long);
        const b = locker(name, 'b');
        assert.equal(await b.tryLock(), undefined);
        const ownName = uniqueLeaseName('long-owner');
        const longOwner = locker(ownName, long);
        await longOwner.lock();
        assert.equal((await read(ownName)).spec?.holderIdentity, long);
        assert.equal(await longOwner.unlock(), true);
      });

      it('an outside edit of leaseDurationSeconds down to 1 s never lets a waiter in beside the holder', async () => {
        // Renewals every 2 s: a waiter trusting the edited 1 s would take over between two of them.
        const slow: LeaseLockerOptions = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 2_000 };
        const name = uniqueLeaseName('shortened');
        const a = locker(name, 'a', slow);
        const b = locker(name, 'b', slow);
        await a.lock();
        const waiting = b.lock({ signal: AbortSignal.timeout(20_000) });
        await neverTwo([a, b], async () => {
          let renewals = 0;
          a.on('renewed', () => { renewals += 1; });
          await writeOutside(name, (lease) => { lease.spec = { ...lease.spec, leaseDurationSeconds: 1 }; });
          await waitFor(() => renewals >= 2 || !a.isLocked, 'two renewals after the edit', 10_000);
          assert.equal(a.isLocked, true, `the holder lost its lock: ${String(a.signal.reason)}`);
          assert.equal(b.isLocked, false);
          assert.equal((await read(name)).spec?.leaseDurationSeconds, 4, 'renewals write our own duration again');
          assert.equal(await a.unlock(), true);
          await waiting;
        });
        assert.equal(await b.unlock(), true);
      });

      it('a Lease deleted by someone else while held: a waiter does not take it beside the holder', async () => {
        // The holder learns of the deletion only at its next renewal (every 2 s here); a waiter
        // that took the lease at once on seeing the deletion would hold it alongside.
        const slow: LeaseLockerOptions = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 2_000 };
        const name = uniqueLeaseName('deleted-waiter');
        const a = locker(name, 'a', slow);
        const b = locker(name, 'b', slow);
        await a.lock();
        const waiting = b.lock({ signal: AbortSignal.timeout(20_000) });
        await neverTwo([a, b], async () => {
          await admin.deleteNamespacedLease({ name, namespace: server.namespace });
          await waitFor(() => !a.isLocked, 'the holder to declare its loss', 5_000);
          await waiting;
        });
        assert.equal(b.isLocked, true);
        assert.equal(await b.unlock(), true);
      });

      it('a Lease deleted and recreated naming us while we hold it is not ours: the loss is declared', async () => {
        const name = uniqueLeaseName('recreated');
        const a = locker(name, 'a');
        await a.lock();
        const oldUid = (await read(name)).metadata?.uid;
        await admin.deleteNamespacedLease({ name, namespace: server.namespace });
        const renewTime = new MicroTime(Date.now());
        await createOutside(name, { holderIdentity: 'a', leaseDurationSeconds: 2, leaseTransitions: 0, renewTime, acquireTime: renewTime });
        const recreated = await read(name);
        assert.notEqual(recreated.metadata?.uid, oldUid);
        await waitFor(() => a.signal.aborted, 'the loss', 5_000);
        assert.equal(a.isLocked, false);
        assert.ok(['taken', 'deleted'].includes((a.signal.reason as LockLostError).reason), String(a.signal.reason));
        await delay(fastTiming.retryPeriodMs! * 2);
        assert.equal((await read(name)).metadata?.resourceVersion, recreated.metadata?.resourceVersion, 'never wrote over the new Lease');
      });

      it('a token the server does not know: lock() and tryLock() reject at once with 401', async () => {
        const cluster = server.kubeConfig().getCurrentCluster() ?? assert.fail('no current cluster');
        const bogus = new KubeConfig();
        bogus.loadFromOptions({
          clusters: [cluster],
          users: [{ name: 'bogus', token: 'not-a-token-this-server-knows' }],
          contexts: [{ name: 'bogus', cluster: cluster.name, user: 'bogus' }],
          currentContext: 'bogus',
        });
        const name = uniqueLeaseName('unauthorized');
        // The signals only keep a regression (a retried 401) from hanging the run.
        for (const call of [(l: LeaseLocker) => l.lock({ signal: AbortSignal.timeout(10_000) }), (l: LeaseLocker) => l.tryLock({ signal: AbortSignal.timeout(10_000) })]) {
          const started = performance.now();
          await assert.rejects(call(locker(name, 'a', slowRetries, bogus)), (e: unknown) => {
            assert.ok(e instanceof LeaseApiError, String(e));
            assert.equal(e.statusCode, 401);
            assert.equal(e.reason, 'Unauthorized');
            return true;
          });
          assert.ok(performance.now() - started < slowRetries.retryPeriodMs / 2, 'no retry');
        }
      });

      it('a namespace that does not exist: lock() rejects at once with 404 NotFound', async () => {
        const a = new LeaseLocker(server.kubeConfig(), { namespace: 'leaselocker-missing', name: uniqueLeaseName('no-namespace') }, 'a', slowRetries);
        const started = performance.now();
        await assert.rejects(a.lock({ signal: AbortSignal.timeout(10_000) }), (e: unknown) => {
          assert.ok(e instanceof LeaseApiError, String(e));
          assert.equal(e.statusCode, 404);
          assert.equal(e.reason, 'NotFound');
          assert.match(e.statusMessage, /namespaces "leaselocker-missing" not found/);
          return true;
        });
        assert.ok(performance.now() - started < slowRetries.retryPeriodMs / 2, 'no retry');
      });
    });
  });
}
