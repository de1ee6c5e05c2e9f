// The waiting line: one write per handoff whatever the number of waiters, first come first
// served, no releaser taking the lock back while others wait, departed waiters dropped, and a
// line that never keeps a crashed holder's lease alive.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { LeaseLocker } from '../src/index.js';
import type { LeaseLockerOptions } from '../src/index.js';
import { Observation } from '../src/observation.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator } from '../src/testing/index.js';
import { formatWaitingLine, lineAfterTurn, parseWaitingLine, placeOf, turnMs } from '../src/waiting-line.js';
import type { WaitingTicket } from '../src/waiting-line.js';
import { FakeClock } from './helpers/fake-clock.js';
import { waitFor } from './helpers/wait-for.js';
import { uniqueLeaseName } from './suites/lease-server.js';

const annotation = 'leaselocker/waiting-line';

describe('waiting line (emulator)', () => {
  let emulator: LeaseApiEmulator;
  let users = 0;
  const lockers: LeaseLocker[] = [];
  before(async () => { emulator = await startLeaseApiEmulator({ bookmarkIntervalMs: 0 }); });
  afterEach(async () => {
    emulator.faults.clear();
    await Promise.all(lockers.splice(0).map(async (l) => l.unlock().catch(() => false)));
    await waitFor(() => emulator.openWatches === 0, 'no watch left open by the test', 10_000);
  });
  after(async () => { await emulator.close(); });

  /** A locker with credentials of its own (its requests are counted apart, it watches on its own). */
  function locker(name: string, options: LeaseLockerOptions = {}): { locker: LeaseLocker; user: string } {
    users += 1;
    const user = `line-${users}`;
    const created = new LeaseLocker(emulator.addUser(user), { namespace: 'default', name }, user, options);
    lockers.push(created);
    return { locker: created, user };
  }
  const line = (name: string): WaitingTicket[] => parseWaitingLine(emulator.getLease('default', name)?.metadata.annotations?.[annotation]);
  const inLine = async (name: string, count: number): Promise<void> => waitFor(() => line(name).length === count, `${count} waiter(s) in line`);
  const departed = (count: number, prefix = 'gone'): WaitingTicket[] =>
    Array.from({ length: count }, (_, i) => ({ ticket: `${prefix}${i}`, identity: `${prefix}-${i}`, skipped: 0 }));
  /** A Lease released at wall time `at` by someone else, with `waiters` in its line. */
  const releasedAt = (name: string, at: number, waiters: WaitingTicket[]): void => {
    const value = formatWaitingLine(waiters);
    emulator.putLease('default', {
      metadata: { name, ...(value === undefined ? {} : { annotations: { [annotation]: value } }) },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 7, acquireTime: new Date(at), renewTime: new Date(at) },
    });
  };

  const writesBy = (name: string, filter: (r: { user: string; status: number; verb: string }) => boolean): number =>
    emulator.requests.filter((r) => r.name === name && (r.verb === 'update' || r.verb === 'create') && filter(r)).length;

  const writes = (name: string, status?: number): number =>
    emulator.requests.filter((r) => r.name === name && (r.verb === 'update' || r.verb === 'create' || r.verb === 'patch') && (status === undefined || r.status === status)).length;

  it('hands over with one acquisition write, whatever the number of waiters', async () => {
    const name = uniqueLeaseName('line-writes');
    const holder = locker(name).locker;
    await holder.lock();
    const waiters = Array.from({ length: 9 }, () => locker(name));
    const locks = waiters.map((w, i) => w.locker.lock().then(() => i));
    await inLine(name, 9);
    const identities = waiters.map((w) => w.user);
    const firstInLine = line(name)[0]?.identity;
    await holder.unlock();
    const taker = await Promise.race(locks);
    assert.equal(identities[taker], firstInLine, 'the first in line took it');
    // The first waiter took the lease with others in line: its hold watches them, so its release
    // is written over their latest join (a holder that had nobody in line when it acquired
    // learns of the line from one conflict).
    const rest = waiters.filter((_, i) => i !== taker);
    await waitFor(() => rest.every((w) => w.locker.holder === identities[taker]), 'every waiter saw the new holder');
    const nextInLine = line(name)[0]?.identity;
    emulator.resetRequests();
    await waiters[taker]?.locker.unlock();
    const next = await Promise.race(locks.filter((_, i) => i !== taker));
    await waitFor(() => rest.every((w) => w.locker.holder === identities[next]), 'every waiter saw the next holder');
    assert.equal(writes(name), 2, `one release and one acquisition, got ${JSON.stringify(emulator.requests.map((r) => [r.verb, r.user, r.status]))}`);
    assert.equal(identities[next], nextInLine, 'the next in line took it');
    assert.equal(line(name).length, 7);
  });

  it('serves waiters in the order they came, the releaser locking again at once going last', async () => {
    const name = uniqueLeaseName('line-order');
    const first = locker(name).locker;
    await first.lock();
    const waiters = Array.from({ length: 4 }, () => locker(name).locker);
    const order: number[] = [];
    const locks: Promise<void>[] = [];
    for (const [i, w] of waiters.entries()) {
      locks.push(w.lock().then(() => void order.push(i)));
      await inLine(name, i + 1);
    }
    await first.unlock();
    let relocked = false;
    const again = first.lock().then(() => { relocked = true; });
    for (let turn = 0; turn < waiters.length; turn += 1) {
      await waitFor(() => order.length === turn + 1, `waiter ${turn} acquired`);
      assert.equal(relocked, false, 'the releaser took the lock back while others waited');
      await waiters[order[turn] ?? -1]?.unlock();
    }
    await again;
    assert.deepEqual(order, [0, 1, 2, 3]);
    await Promise.all(locks);
  });

  it('passes over a waiter that left, then drops it from the line', async () => {
    const name = uniqueLeaseName('line-departed');
    const holder = locker(name).locker;
    await holder.lock();
    const gone = new AbortController();
    const leaving = locker(name).locker.lock({ signal: gone.signal }).catch(() => 'left');
    await inLine(name, 1);
    gone.abort();
    assert.equal(await leaving, 'left');
    const staying = locker(name).locker;
    const staysLocking = staying.lock();
    await inLine(name, 2);
    await holder.unlock();
    await staysLocking;
    assert.deepEqual(line(name).map((t) => t.skipped), [1], 'the departed waiter is passed over once and kept');
    await staying.unlock();
    // A second handoff passes it over again: it is dropped.
    const late = locker(name).locker;
    await late.lock();
    assert.equal(emulator.getLease('default', name)?.metadata.annotations?.[annotation], undefined, 'the line is empty and gone');
  });

  it('keeps a holder\'s renewals free of conflicts while waiters join its line', async () => {
    const name = uniqueLeaseName('line-renewals');
    const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 200 };
    const { locker: holder, user } = locker(name, timing);
    await holder.lock();
    let renewals = 0;
    holder.on('renewed', () => { renewals += 1; });
    const first = locker(name, timing).locker;
    const locks = [first.lock()];
    await inLine(name, 1);
    // The holder learns of the line from the one conflict its next renewal meets, then watches.
    const learned = renewals;
    await waitFor(() => renewals >= learned + 2, 'two renewals after the first join', 5_000);
    emulator.resetRequests();
    const waiters = Array.from({ length: 3 }, () => locker(name, timing).locker);
    locks.push(...waiters.map((w) => w.lock()));
    await inLine(name, 4);
    const after = renewals;
    await waitFor(() => renewals >= after + 3, 'three renewals after the joins', 5_000);
    const mine = emulator.requests.filter((r) => r.user === user && r.name === name);
    assert.equal(mine.filter((r) => r.status === 409).length, 0, 'a renewal met a conflict');
    assert.equal(mine.filter((r) => r.verb === 'get').length, 0, 'the holder read the lease');
    await holder.unlock();
    await Promise.race(locks);
  });

  it('tryLock leaves a fresh release to the line, and takes a release the line let pass', async () => {
    const name = uniqueLeaseName('line-trylock');
    const waiting: WaitingTicket = { ticket: 'departed1', identity: 'gone', skipped: 0 };
    const release = (at: Date): void => {
      emulator.putLease('default', {
        metadata: { name, annotations: { [annotation]: formatWaitingLine([waiting]) ?? '' } },
        spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 3, acquireTime: at, renewTime: at },
      });
    };
    const guard = locker(name).locker;
    release(new Date());
    assert.equal(await guard.tryLock(), undefined, 'took a lease released just now while another waits in line');
    release(new Date(Date.now() - 5_000));
    const hold = await guard.tryLock();
    assert.ok(hold, 'the waiter in line had its turn long ago');
    assert.deepEqual(line(name).map((t) => t.skipped), [1]);
  });

  it('a crowd joining a held lease at once costs a few requests per waiter, not a conflict storm', async () => {
    const name = uniqueLeaseName('atk-storm');
    const { locker: holder } = locker(name);
    await holder.lock();
    const crowd = 50;
    emulator.resetRequests();
    // An API server a few milliseconds away, as a real one is.
    emulator.faults.latency(5, { verb: ['update', 'list', 'get'], name });
    const waiters = Array.from({ length: crowd }, () => locker(name).locker);
    const locks = waiters.map(async (w) => w.lock().catch(() => undefined));
    await waitFor(() => line(name).length === crowd, `all ${crowd} waiters in line`, 60_000);
    const mine = emulator.requests.filter((r) => r.name === name && r.verb !== 'watch');
    const writes = mine.filter((r) => r.verb === 'update').length;
    const conflicts = mine.filter((r) => r.status === 409).length;
    const reads = mine.filter((r) => r.verb === 'list' || r.verb === 'get').length;
    assert.equal(holder.isLocked, true);
    // Without the line, waiting cost no request but the first list and the watch (and every
    // release then cost a write per waiter). Joining costs a write each, and a crowd arriving at
    // once retries with a doubling random backoff: about 7 writes and 4 reads per waiter for 50
    // (measured), where joining in rounds (one winner per version) would cost 25 writes each.
    assert.ok(writes + reads <= 14 * crowd, `joining cost ${writes} writes (${conflicts} of them 409) and ${reads} reads for ${crowd} waiters`);
    assert.ok(writes <= 10 * crowd, `joining cost ${writes} writes`);
    void locks;
  });

  it('tryLock takes a free lease whose only waiter in line left, even when the releaser\'s clock runs a minute ahead', async () => {
    const name = uniqueLeaseName('atk-skew');
    const clock = new FakeClock();
    // The releaser's machine: the same timeline, its wall clock 60 s ahead (useObservedTime is
    // the default precisely so that clock offsets between machines do not matter).
    const { locker: releaser } = locker(name, { clock: clock.skewed(60_000) });
    await releaser.lock();
    const gone = new AbortController();
    const { locker: leaving } = locker(name, { clock });
    const left = leaving.lock({ signal: gone.signal }).catch(() => 'left');
    await waitFor(() => line(name).length === 1, 'the waiter joined the line');
    gone.abort();
    assert.equal(await left, 'left');
    await releaser.unlock();
    const { locker: taker } = locker(name, { clock });
    // A cron-style replica retries tryLock every second; the departed waiter's turn (100 ms) and
    // the allowance for clock skew (1 s) passed long ago after 10 s.
    let hold;
    for (let second = 0; second < 10 && hold === undefined; second += 1) {
      hold = await taker.tryLock();
      if (hold === undefined) await clock.advance(1_000);
    }
    assert.ok(hold, `tryLock kept answering "held" for 10 s on a lease nobody holds (line: ${JSON.stringify(line(name))})`);
  });

  it('lock() on a lease released an hour ago is not held back by departed waiters still in line', async () => {
    const name = uniqueLeaseName('atk-stale-line');
    const clock = new FakeClock();
    // 100 departed waiters (lock() calls that timed out, or an outside writer): the most the line keeps.
    releasedAt(name, clock.wallTime() - 3_600_000, departed(100));
    const { locker: taker } = locker(name, { clock });
    let acquired = false;
    const locking = taker.lock().then(() => { acquired = true; });
    await waitFor(async () => { await clock.advance(100); return acquired || clock.now() >= 1_000 + 2_000; }, 'lock() acquired or 2 s passed');
    assert.equal(acquired, true, `lock() waited ${clock.now() - 1_000} ms and more for a lease free for an hour (tryLock takes it at once)`);
    await locking;
  });

  it('tryLock takes a lease released an hour ago at once, passing its departed line over once', async () => {
    // Regression guard: tryLock itself takes a long-released lease with a departed line at once.
    const name = uniqueLeaseName('atk-trylock-old');
    const clock = new FakeClock();
    releasedAt(name, clock.wallTime() - 3_600_000, departed(100));
    const { locker: taker } = locker(name, { clock });
    const hold = await taker.tryLock();
    assert.ok(hold, 'tryLock refused a lease released an hour ago');
    assert.deepEqual(line(name).map((t) => t.skipped), Array.from({ length: 100 }, () => 1), 'everyone passed over once');
  });
  it('an outside edit wiping the line loses no waiter, and joins emit no holderChanged', async () => {
    const name = uniqueLeaseName('atk-wipe');
    const { locker: holder } = locker(name);
    await holder.lock();
    const waiters = Array.from({ length: 3 }, () => locker(name).locker);
    const changes: Array<string | undefined>[] = waiters.map(() => []);
    waiters.forEach((w, i) => w.on('holderChanged', ({ holder: h }) => changes[i]?.push(h)));
    const order: number[] = [];
    const locks: Promise<void>[] = [];
    for (const [i, w] of waiters.entries()) {
      locks.push(w.lock().then(() => void order.push(i)));
      await waitFor(() => line(name).length === i + 1, `waiter ${i} joined`);
    }
    // kubectl annotate leases/... leaselocker/waiting-line- : the line is gone, the hold stays.
    const lease = emulator.getLease('default', name);
    assert.ok(lease);
    emulator.putLease('default', { ...lease, metadata: { ...lease.metadata, annotations: {} } });
    await holder.unlock();
    for (let turn = 0; turn < waiters.length; turn += 1) {
      await waitFor(() => order.length === turn + 1, `waiter ${turn + 1} of 3 acquired`, 10_000);
      await waiters[order[turn] ?? -1]?.unlock();
    }
    await Promise.all(locks);
    for (const seen of changes) {
      for (let i = 1; i < seen.length; i += 1) assert.notEqual(seen[i], seen[i - 1], `holderChanged repeated a holder: ${JSON.stringify(seen)}`);
    }
  });

  it('a releaser whose wall clock is 5 minutes behind still hands over with one write, to the first in line', async () => {
    const name = uniqueLeaseName('rv-skew-behind');
    const clock = new FakeClock();
    const { locker: holder, user: releaser } = locker(name, { clock: clock.skewed(-300_000) });
    await holder.lock();
    const waiters = Array.from({ length: 5 }, () => locker(name, { clock }));
    const order: string[] = [];
    const locks: Promise<void>[] = [];
    for (const [i, w] of waiters.entries()) {
      // One at a time, so that the joins do not conflict (their backoffs would need the clock).
      // The others are cancelled by the unlock() after the test.
      locks.push(w.locker.lock().then(() => void order.push(w.user), () => undefined));
      await waitFor(() => line(name).length === i + 1, `waiter ${i} joined`);
    }
    await waitFor(() => line(name).length === 5, 'five in line');
    const firstInLine = line(name)[0]?.identity;
    emulator.resetRequests();
    await holder.unlock();
    await waitFor(() => order.length === 1, 'someone acquired');
    await waitFor(() => waiters.every((w) => w.locker.holder === order[0]), 'every waiter saw the new holder');
    // (The releaser itself meets one conflict: it had nobody in line when it acquired, so it learns of the line from its release.)
    const conflicts = writesBy(name, (r) => r.status === 409 && r.user !== releaser);
    assert.equal(order[0], firstInLine, `the first in line did not take it (${conflicts} acquisition conflicts)`);
    assert.equal(conflicts, 0, `a release stamped 5 minutes in the past made ${conflicts + 1} waiters write at once`);
  });

  it('a join conflict is followed by its backoff even when the conflicting write reaches the watch before the 409', async () => {
    const name = uniqueLeaseName('rv-join-backoff');
    // Neither clock is advanced: the holder never renews, and the waiter's backoffs end only when we say.
    const { locker: holder } = locker(name, { clock: new FakeClock() });
    await holder.lock();
    const clock = new FakeClock();
    const { locker: waiter, user } = locker(name, { clock });
    let bumps = 0;
    // Another waiter joins just before each of ours (an outside write), and our 409 comes back
    // a little after the watch event of that join, as it does with a real network.
    emulator.faults.onRequest(() => {
      const lease = emulator.getLease('default', name);
      if (lease === undefined) return;
      bumps += 1;
      const others = [...line(name), { ticket: `other${bumps}`, identity: `other-${bumps}`, skipped: 0 }];
      emulator.putLease('default', { ...lease, metadata: { ...lease.metadata, annotations: { ...lease.metadata.annotations, [annotation]: formatWaitingLine(others) ?? '' } } });
    }, { verb: 'update', name, user });
    emulator.faults.latency(100, { verb: 'update', name, user, phase: 'response' });
    const locking = waiter.lock().catch(() => undefined);
    const joins = (): number => writesBy(name, (r) => r.user === user && r.verb === 'update');
    await waitFor(() => joins() === 1, 'the first join (conflicted)');
    // The first backoff is at most 300 ms: move the waiter's clock until it joins again, then stop it.
    const conflicted = (): number => writesBy(name, (r) => r.user === user && r.status === 409);
    await waitFor(() => conflicted() === 1, 'the first join met a conflict');
    const from = clock.now();
    await waitFor(async () => { if (joins() < 2 && clock.now() < from + 600) await clock.advance(20); return joins() >= 2; }, 'the second join (conflicted)');
    // The second backoff is up to 600 ms of the waiter's clock, which does not move: no third join.
    let third = false;
    try {
      await waitFor(() => joins() >= 4, 'joins without waiting a backoff', 1_500);
      third = true;
    } catch { /* expected */ }
    emulator.faults.clear();
    assert.equal(third, false, `${joins()} joins without the clock moving: a watch event during the join aborted the backoff's wake in advance`);
    void locking; // ended by the unlock() after the test (the made-up waiters ahead never take their turns)
  });

  it('a renewal after the holder\'s wall clock steps back writes its own time, not a timestamp an hour ahead', async () => {
    const name = uniqueLeaseName('rv-step-back');
    const clock = new FakeClock();
    const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };
    const { locker: holder } = locker(name, { clock, ...timing });
    // The machine's clock ran an hour ahead; NTP steps it back after the acquisition.
    clock.skewWall(3_600_000);
    await holder.lock();
    clock.skewWall(-3_600_000);
    let renewals = 0;
    holder.on('renewed', () => { renewals += 1; });
    for (let i = 0; i < 3; i += 1) {
      await clock.advance(500);
      await waitFor(() => renewals >= i + 1, `renewal ${i + 1}`);
    }
    const renewTime = emulator.getLease('default', name)?.spec.renewTime;
    const ahead = new Date(renewTime ?? 0).getTime() - clock.wallTime();
    // A waiter with useObservedTime: false would keep a crashed holder alive for this long.
    assert.ok(ahead < 5_000, `renewTime stays ${Math.round(ahead / 1000)} s ahead of the holder's corrected clock`);
  });

  it('a waiter whose join an outside edit wiped does not re-judge a crashed holder\'s lease from scratch on every attempt', async () => {
    const name = uniqueLeaseName('rv-wipe-crash');
    const clock = new FakeClock();
    const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };
    const holderClock = new FakeClock();
    const { locker: holder } = locker(name, { clock: holderClock, ...timing });
    await holder.lock();
    const { locker: waiter } = locker(name, { clock, ...timing });
    let acquired = false;
    const locking = waiter.lock().then(() => { acquired = true; });
    await waitFor(() => line(name).length === 1, 'the waiter joined');
    // Someone wipes the line (kubectl annotate ... leaselocker/waiting-line-), then the holder
    // renews once and its process dies (its clock never moves again).
    const lease = emulator.getLease('default', name);
    assert.ok(lease);
    emulator.putLease('default', { ...lease, metadata: { ...lease.metadata, annotations: {} } });
    let renewed = false;
    holder.on('renewed', () => { renewed = true; });
    await holderClock.advance(500);
    await waitFor(() => renewed, 'the holder renewed over the wiped line');
    const crashedAt = clock.now();
    await waitFor(async () => { await clock.advance(100); return acquired || clock.now() - crashedAt > 4 * 3_000; }, 'acquired or 4 lease durations passed', 20_000);
    const waited = clock.now() - crashedAt;
    assert.equal(acquired, true, 'never acquired');
    assert.ok(waited <= 3_000 + 2_000 + 500, `waited ${waited} ms for a lease of 3 s whose holder crashed`);
    await locking;
  });
});

describe('waiting line, as stored', () => {
  const a: WaitingTicket = { ticket: 'aaaa', identity: 'pod-a', skipped: 0 };
  const b: WaitingTicket = { ticket: 'bbbb', identity: 'pod-b', skipped: 1 };
  const c: WaitingTicket = { ticket: 'cccc', identity: 'pod-c', skipped: 0 };

  it('reads back what it writes, and anything malformed as no line', () => {
    assert.deepEqual(parseWaitingLine(formatWaitingLine([a, b, c])), [a, b, c]);
    assert.equal(formatWaitingLine([]), undefined);
    for (const bad of ['', 'nope', '{}', '[1]', '[{"t":3,"id":"x"}]', '[{"t":"","id":"x"}]', 'null']) assert.deepEqual(parseWaitingLine(bad), [], bad);
    assert.deepEqual(parseWaitingLine('[{"t":"x","id":"a"},{"t":"x","id":"b"}]').map((t) => t.identity), ['a'], 'a ticket counts once');
  });

  it('gives places, and the line after a turn: the taker out, those passed over counted, then dropped', () => {
    assert.deepEqual([placeOf([a, b, c], 'aaaa'), placeOf([a, b, c], 'cccc'), placeOf([a, b, c], 'zzzz')], [0, 2, 3]);
    assert.deepEqual(lineAfterTurn([a, b, c], 'aaaa'), [b, c]);
    assert.deepEqual(lineAfterTurn([a, b, c], 'cccc'), [{ ...a, skipped: 1 }]);
    assert.deepEqual(lineAfterTurn([a, b, c], 'zzzz'), [{ ...a, skipped: 1 }, { ...c, skipped: 1 }]);
    assert.ok(turnMs > 0);
  });
});

describe('a waiter joining the line', () => {
  it('does not extend the hold others presume the holder has; a renewal does', async () => {
    const clock = new FakeClock();
    const observation = new Observation(clock, { useObservedTime: true, minDurationMs: 15_000 });
    const at = new Date(0);
    const record = { holderIdentity: 'h', leaseDurationSeconds: 15, acquireTime: at, renewTime: at, leaseTransitions: 1, waiters: [] };
    observation.see({ record, version: '1' });
    const expiresAt = observation.expiresAt();
    await clock.advance(10_000);
    observation.see({ record: { ...record, waiters: [{ ticket: 't', identity: 'w', skipped: 0 }] }, version: '2' });
    assert.equal(observation.expiresAt(), expiresAt, 'a join kept a crashed holder\'s lease alive');
    observation.see({ record: { ...record, waiters: [{ ticket: 't', identity: 'w', skipped: 0 }] }, version: '3' });
    assert.equal(observation.expiresAt(), clock.now() + 15_000, 'a renewal (a new version with the same line) must count, even with a clock that stood still');
  });
});

describe('a holder whose wall clock stands still', () => {
  it('still writes a new version with every renewal, so waiters see it alive', async () => {
    const emulator = await startLeaseApiEmulator();
    try {
      const clock = new FakeClock();
      const frozen = { now: () => clock.now(), wallTime: () => Date.UTC(2026, 0, 1), sleep: async (ms: number, signal?: AbortSignal) => clock.sleep(ms, signal) };
      const locker = new LeaseLocker(emulator.kubeConfig(), { namespace: 'default', name: 'frozen-clock' }, 'holder', { clock: frozen });
      await locker.lock();
      const versions = new Set<string>();
      for (let i = 0; i < 3; i += 1) {
        await clock.advance(2_000);
        await waitFor(() => { const v = emulator.getLease('default', 'frozen-clock')?.metadata.resourceVersion; if (v !== undefined) versions.add(v); return versions.size === i + 1; }, `renewal ${i + 1} wrote a new version`);
      }
      await locker.unlock();
    } finally {
      await emulator.close();
    }
  });
});
