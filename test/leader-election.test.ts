import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidConfigError, LockLostError } from '../src/errors.js';
import type { StoppedLeadingEvent } from '../src/leader-election.js';
import { runLeaderElection } from '../src/leader-election.js';
import type { LeaseLocker } from '../src/lease-locker.js';
import { settle } from './helpers/fake-clock.js';
import { memoryFixture } from './helpers/memory-locker.js';

/** Work that runs until its signal aborts, recording when it ran; `finish` ends it from outside. */
function work() {
  const runs: { startedAt: number; endedAt?: number; signal: AbortSignal }[] = [];
  let finish: (() => void) | undefined;
  let running = 0;
  let overlapped = false;
  const onStartedLeading = async (signal: AbortSignal): Promise<void> => {
    running += 1;
    if (running > 1) overlapped = true;
    const run: (typeof runs)[number] = { startedAt: runs.length, signal };
    runs.push(run);
    try {
      await new Promise<void>((resolve) => {
        finish = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      running -= 1;
      run.endedAt = runs.length;
    }
  };
  return { runs, onStartedLeading, finish: () => finish?.(), overlapped: () => overlapped };
}

describe('runLeaderElection', () => {
  it('leads, stops the work when the hold is lost, and competes again until its signal aborts', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    const stop = new AbortController();
    const w = work();
    const stopped: StoppedLeadingEvent[] = [];
    const election = runLeaderElection(a, { signal: stop.signal, onStartedLeading: w.onStartedLeading, onStoppedLeading: (e) => stopped.push(e) });
    await settle();
    assert.equal(w.runs.length, 1);
    assert.equal(store.record?.holderIdentity, 'a');
    store.writeOutside(heldBy('intruder'));
    await clock.advance(2_000);
    await settle();
    assert.equal(w.runs[0]?.signal.aborted, true, 'the work was told');
    assert.ok(w.runs[0]?.signal.reason instanceof LockLostError);
    assert.equal(stopped.length, 1);
    assert.equal(stopped[0]?.lost?.reason, 'taken');
    assert.equal(w.runs.length, 1, 'not leading while the intruder holds');
    await clock.advance(16_000);
    await settle();
    assert.equal(w.runs.length, 2, 'leads again once the intruder expired');
    assert.equal(store.record?.holderIdentity, 'a');
    stop.abort();
    await election;
    assert.equal(store.record?.holderIdentity, '', 'released at the end');
    assert.equal(stopped.length, 2);
    assert.equal(stopped[1]?.lost, undefined);
    assert.equal(w.overlapped(), false);
    assert.equal(clock.pending, 0, 'nothing left running');
  });

  it('releases only after the work has stopped', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    const stop = new AbortController();
    let finishWork!: () => void;
    let abortSeen = false;
    const election = runLeaderElection(a, {
      signal: stop.signal,
      onStartedLeading: async (signal) => {
        await new Promise<void>((resolve) => {
          finishWork = resolve;
          signal.addEventListener('abort', () => { abortSeen = true; }, { once: true });
        });
      },
    });
    await settle();
    stop.abort();
    await settle();
    assert.equal(abortSeen, true);
    assert.equal(store.record?.holderIdentity, 'a', 'still held while the work runs on');
    finishWork();
    await election;
    assert.equal(store.record?.holderIdentity, '');
  });

  it('work that returns by itself ends the election and releases; work that throws rejects it, also releasing', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    await runLeaderElection(a, { signal: new AbortController().signal, onStartedLeading: () => undefined });
    assert.equal(store.record?.holderIdentity, '');
    await assert.rejects(
      runLeaderElection(a, { signal: new AbortController().signal, onStartedLeading: () => { throw new Error('controller crashed'); } }),
      /controller crashed/,
    );
    assert.equal(store.record?.holderIdentity, '');
    assert.equal(a.isLocked, false);
  });

  it('work that rejects because its signal aborted stopped as asked: not an error', async () => {
    const { clock, locker } = memoryFixture();
    const a = locker('a');
    const stop = new AbortController();
    const election = runLeaderElection(a, {
      signal: stop.signal,
      onStartedLeading: async (signal) => clock.sleep(60_000, signal),
    });
    await settle();
    stop.abort();
    await election;
  });

  it('two electors: one leads; the other reports it as leader and takes over at once when it stops', async () => {
    const { store, locker } = memoryFixture();
    const lockers: LeaseLocker[] = [locker('a'), locker('b')];
    const stops = lockers.map(() => new AbortController());
    const leading: string[] = [];
    const newLeaders: string[][] = [[], []];
    const elections = lockers.map(async (l, i) =>
      runLeaderElection(l, {
        signal: stops[i]?.signal ?? AbortSignal.abort(),
        onStartedLeading: async (signal) => {
          leading.push(l.identity);
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        },
        onNewLeader: (identity) => newLeaders[i]?.push(identity),
      }),
    );
    await settle();
    assert.equal(leading.length, 1);
    const first = leading[0] ?? '';
    const firstIndex = first === 'a' ? 0 : 1;
    const other = 1 - firstIndex;
    assert.deepEqual(newLeaders[other], [first]);
    stops[firstIndex]?.abort();
    await elections[firstIndex];
    await settle(20);
    assert.deepEqual(leading, [first, lockers[other]?.identity]);
    assert.equal(store.record?.holderIdentity, lockers[other]?.identity);
    stops[other]?.abort();
    await Promise.all(elections);
  });

  it('rejects bad arguments before any request', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    const signal = new AbortController().signal;
    const bad = [
      { signal: undefined, onStartedLeading: () => undefined },
      { signal, onStartedLeading: 'run' },
      { signal, onStartedLeading: () => undefined, onNewLeader: 42 },
    ];
    for (const options of bad) {
      await assert.rejects(runLeaderElection(a, options as never), InvalidConfigError);
    }
    await assert.rejects(runLeaderElection({} as LeaseLocker, { signal, onStartedLeading: () => undefined }), InvalidConfigError);
    assert.equal(store.calls.length, 0);
  });
});
