import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
// recordEvents: events.k8s.io/v1 Events about the Lease on acquire, release and loss, posted in
// the background through a front server that serves the events endpoint (storing, failing,
// refusing or never answering) and hands every other request to the Lease API emulator.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { eventsWarningCode, LeaseEventRecorder } from '../src/event-recorder.js';
import { InvalidConfigError, LeaseLock, LeaseLocker, LockLostError } from '../src/index.js';
import type { LeaseLockerOptions } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator } from '../src/testing/index.js';
import { runUntilExit } from './helpers/child-exit.js';
import { MemoryStore } from './helpers/memory-lock.js';
import { waitFor } from './helpers/wait-for.js';
import { fastTiming } from './suites/locker-behaviour.js';
import { uniqueLeaseName } from './suites/lease-server.js';

/** An Event as posted. */
interface PostedEvent {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly eventTime: string;
  readonly reportingController: string;
  readonly reportingInstance: string;
  readonly action: string;
  readonly reason: string;
  readonly type: string;
  readonly note: string;
  readonly regarding: { readonly apiVersion: string; readonly kind: string; readonly namespace: string; readonly name: string; readonly uid?: string; readonly resourceVersion?: string };
}

/** How the front answers a post to the events endpoint. */
type EventsMode = 'store' | 'fail' | 'forbid' | 'hang';

interface EventsFront {
  readonly url: string;
  mode: EventsMode;
  /** Events stored (mode `store`), oldest first. */
  readonly events: PostedEvent[];
  /** Posts received, whatever the answer. */
  posts: number;
  /** Every Event posted, whatever the answer. */
  readonly posted: PostedEvent[];
  /** Posts received and not answered yet. */
  pending: number;
  /** Why posts were refused as invalid. */
  readonly invalid: string[];
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

const eventsPath = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const bytes = (text: string): number => Buffer.byteLength(text);

/** What kube-apiserver's validation of an events.k8s.io/v1 create refuses (pkg/apis/core/validation ValidateEventCreate). */
function eventErrors(event: Partial<PostedEvent> & Record<string, unknown>, namespace: string): string[] {
  const errors: string[] = [];
  const name = event.metadata?.name ?? '';
  if (name.length === 0 || name.length > 253 || !dnsSubdomain.test(name)) errors.push(`metadata.name ${JSON.stringify(name)}`);
  if ((event.metadata?.namespace ?? namespace) !== namespace) errors.push('metadata.namespace does not match the path');
  if (typeof event.eventTime !== 'string' || !microTime.test(event.eventTime)) errors.push(`eventTime ${String(event.eventTime)}`);
  if (event.type !== 'Normal' && event.type !== 'Warning') errors.push(`type ${String(event.type)}`);
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(event.reportingController ?? '')) errors.push('reportingController');
  for (const [field, limit] of [['reportingInstance', 128], ['action', 128], ['reason', 128]] as const) {
    const value = event[field];
    if (typeof value !== 'string' || value === '' || bytes(value) > limit) errors.push(`${field} (${typeof value === 'string' ? bytes(value) : 0} bytes)`);
  }
  if (typeof event.note === 'string' && bytes(event.note) > 1024) errors.push(`note (${bytes(event.note)} bytes)`);
  for (const field of ['deprecatedFirstTimestamp', 'deprecatedLastTimestamp', 'deprecatedCount', 'deprecatedSource']) {
    if (event[field] !== undefined) errors.push(`${field} must be unset`);
  }
  return errors;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

/** A front for `emulator`: the events endpoint is its own, everything else is relayed. */
async function startEventsFront(emulator: LeaseApiEmulator): Promise<EventsFront> {
  const target = new URL(emulator.url);
  const sockets = new Set<Socket>();
  const serveEvents = async (request: IncomingMessage, response: ServerResponse, namespace: string): Promise<void> => {
    front.posts += 1;
    front.pending += 1;
    response.once('close', () => { front.pending -= 1; });
    const event = await readJson(request) as PostedEvent & Record<string, unknown>;
    front.posted.push(event);
    const status = (code: number, reason: string, message: string): void => {
      response.writeHead(code, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message }));
    };
    switch (front.mode) {
      case 'hang':
        return;
      case 'fail':
        status(500, 'InternalError', 'Internal error occurred: etcdserver: request timed out');
        return;
      case 'forbid':
        status(403, 'Forbidden', `events.events.k8s.io is forbidden: User "u" cannot create resource "events" in API group "events.k8s.io" in the namespace "${namespace}"`);
        return;
      case 'store': {
        const errors = eventErrors(event, namespace);
        if (errors.length > 0) {
          front.invalid.push(...errors);
          status(422, 'Invalid', `Event is invalid: ${errors.join(', ')}`);
          return;
        }
        front.events.push(event);
        response.writeHead(201, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ ...event, metadata: { ...event.metadata, namespace, uid: 'e', resourceVersion: '1' } }));
      }
    }
  };
  const server = createServer((request, response) => {
    const events = eventsPath.exec(request.url ?? '');
    if (events !== null && request.method === 'POST') {
      void serveEvents(request, response, events[1] ?? '');
      return;
    }
    const relayed = httpRequest({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    relayed.on('error', () => response.destroy());
    response.on('close', () => relayed.destroy());
    request.pipe(relayed);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const front: EventsFront = {
    url,
    mode: 'store',
    events: [],
    posts: 0,
    posted: [],
    pending: 0,
    invalid: [],
    kubeConfig: () => {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromOptions({
        clusters: [{ name: 'front', server: url, skipTLSVerify: true }],
        users: [{ name: 'u', token: emulator.token() }],
        contexts: [{ name: 'front', cluster: 'front', user: 'u', namespace: 'default' }],
        currentContext: 'front',
      });
      return kubeConfig;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return front;
}

/** Warnings with code LEASELOCKER_EVENTS about lease `name` emitted while the test runs. */
/** LEASELOCKER_EVENTS warnings about lease `name` (any lease when it is undefined). */
function eventWarnings(name?: string): { readonly list: Error[]; stop(): void } {
  const list: Error[] = [];
  const onWarning = (warning: Error & { code?: string }): void => {
    if (warning.code === eventsWarningCode && (name === undefined || warning.message.includes(`default/${name} `))) list.push(warning);
  };
  process.on('warning', onWarning);
  return { list, stop: () => process.off('warning', onWarning) };
}

describe('recordEvents: Kubernetes Events about the Lease', () => {
  let emulator: LeaseApiEmulator;
  let front: EventsFront;
  const lockers: LeaseLocker[] = [];
  before(async () => {
    emulator = await startLeaseApiEmulator();
    front = await startEventsFront(emulator);
  });
  after(async () => {
    front.mode = 'store';
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    await front.close();
    await emulator.close();
  });
  const locker = (name: string, owner: string, options: LeaseLockerOptions = {}): LeaseLocker => {
    const created = new LeaseLocker(front.kubeConfig(), { namespace: 'default', name }, owner, { ...fastTiming, recordEvents: true, ...options });
    lockers.push(created);
    return created;
  };
  const eventsAbout = (name: string): PostedEvent[] => front.events.filter((e) => e.regarding.name === name);
  const postsAbout = (name: string): number => front.posted.filter((e) => e.regarding.name === name).length;
  /** Another holder writes over the lease: the holder's next renewal finds it taken. */
  const steal = (name: string, thief: string): void => {
    const now = new Date();
    emulator.putLease('default', { metadata: { name }, spec: { holderIdentity: thief, leaseDurationSeconds: 60, acquireTime: now, renewTime: now, leaseTransitions: 99 } });
  };

  it('records an acquisition, a release and a loss as one Event each, shaped as client-go writes them', async () => {
    front.mode = 'store';
    const name = uniqueLeaseName('events');
    const a = locker(name, 'pod-a');
    await a.lock();
    await waitFor(() => eventsAbout(name).length === 1, 'the LeaseAcquired Event');
    const uid = emulator.getLease('default', name)?.metadata.uid ?? assert.fail('no lease');
    const [acquired] = eventsAbout(name);
    assert.ok(acquired !== undefined);
    assert.match(acquired.metadata.name, new RegExp(`^${name}\\.[0-9a-f]{15,}$`));
    assert.match(acquired.eventTime, microTime);
    assert.ok(Math.abs(Date.parse(acquired.eventTime) - Date.now()) < 60_000, 'eventTime is now');
    assert.deepEqual(
      { reportingController: acquired.reportingController, reportingInstance: acquired.reportingInstance, action: acquired.action, reason: acquired.reason, type: acquired.type, note: acquired.note },
      { reportingController: 'leaselocker', reportingInstance: 'pod-a', action: 'Acquire', reason: 'LeaseAcquired', type: 'Normal', note: 'pod-a acquired the lock' },
    );
    assert.equal(acquired.regarding.resourceVersion !== undefined && acquired.regarding.resourceVersion !== '', true, 'regarding names the version acquired');
    assert.deepEqual({ ...acquired.regarding, resourceVersion: undefined }, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'default', name, uid, resourceVersion: undefined });

    await a.unlock();
    await waitFor(() => eventsAbout(name).length === 2, 'the LeaseReleased Event');
    const released = eventsAbout(name)[1];
    assert.deepEqual([released?.action, released?.reason, released?.type, released?.note], ['Release', 'LeaseReleased', 'Normal', 'pod-a released the lock']);
    assert.equal(released?.regarding.uid, uid);
    assert.notEqual(released?.metadata.name, acquired.metadata.name, 'every Event has a name of its own');

    await a.lock();
    const lost = new Promise<LockLostError>((resolve) => a.once('lost', resolve));
    steal(name, 'pod-b');
    assert.equal((await lost).reason, 'taken');
    await waitFor(() => eventsAbout(name).length === 4, 'the LeaseLost Event');
    const loss = eventsAbout(name)[3];
    assert.deepEqual([loss?.action, loss?.reason, loss?.type], ['Renew', 'LeaseLost', 'Warning']);
    assert.equal(loss?.note, 'pod-a lost the lock (taken: now held by pod-b)');
    assert.equal(loss?.regarding.uid, uid);
    assert.deepEqual(front.invalid, []);
  });

  it('names the reason of every other loss in the note', async () => {
    front.mode = 'store';
    const name = uniqueLeaseName('events-deadline');
    const a = locker(name, 'pod-a');
    await a.lock();
    const fault = emulator.faults.fail({ status: 503 }, { verb: 'update', name });
    await new Promise((resolve) => a.once('lost', resolve));
    fault.clear();
    await waitFor(() => eventsAbout(name).some((e) => e.reason === 'LeaseLost'), 'the LeaseLost Event');
    assert.equal(eventsAbout(name).find((e) => e.reason === 'LeaseLost')?.note, 'pod-a lost the lock (renew-deadline)');

    const deleted = uniqueLeaseName('events-deleted');
    const b = locker(deleted, 'pod-b');
    await b.lock();
    emulator.deleteLease('default', deleted);
    await new Promise((resolve) => b.once('lost', resolve));
    await waitFor(() => eventsAbout(deleted).some((e) => e.reason === 'LeaseLost'), 'the LeaseLost Event');
    assert.equal(eventsAbout(deleted).find((e) => e.reason === 'LeaseLost')?.note, 'pod-b lost the lock (deleted)');
  });

  it('records an acquisition whose answer was lost, once it is found to have landed', async () => {
    front.mode = 'store';
    const name = uniqueLeaseName('events-landed');
    // The server creates the lease, but answers after the client gave up; the next attempt finds it ours.
    // (A create names no lease in its path: the fault matches the next create, this test's.)
    const creates = emulator.countRequests({ verb: 'create' });
    emulator.faults.latency(1_000, { verb: 'create', phase: 'response', times: 1 });
    const a = locker(name, 'pod-a', { requestTimeoutMs: 500 });
    await a.lock();
    assert.equal(emulator.countRequests({ verb: 'create' }) - creates, 1, 'acquired by the write whose answer was lost');
    await waitFor(() => eventsAbout(name).length === 1, 'the LeaseAcquired Event');
    assert.equal(eventsAbout(name)[0]?.reason, 'LeaseAcquired');
  });

  it('fits a long lease name and identity into the limits the API server enforces', async () => {
    front.mode = 'store';
    const name = `${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.${uniqueLeaseName('long').padEnd(71, 'w')}`.slice(0, 253);
    const identity = `pod-${'é'.repeat(600)}`;
    const a = locker(name, identity);
    await a.lock();
    await a.unlock();
    await waitFor(() => eventsAbout(name).length === 2, 'both Events');
    assert.deepEqual(front.invalid, []);
    const [event] = eventsAbout(name);
    assert.ok(event !== undefined);
    assert.ok(bytes(event.reportingInstance) <= 128 && bytes(event.reportingInstance) >= 126, `reportingInstance cut at 128 bytes (${bytes(event.reportingInstance)})`);
    assert.ok(identity.startsWith(event.reportingInstance));
    assert.ok(bytes(event.note) <= 1024 && event.note.endsWith('…'), `note cut at 1024 bytes (${bytes(event.note)})`);
    assert.ok(event.metadata.name.length <= 253);
  });

  it('rate-limits: 25 Events of a type in a burst, then the rest are dropped; a loss still gets through', async () => {
    front.mode = 'store';
    const name = uniqueLeaseName('events-burst');
    const a = locker(name, 'pod-a');
    for (let i = 0; i < 13; i += 1) {
      await a.lock();
      await a.unlock();
    }
    await waitFor(() => eventsAbout(name).length === 25 && front.pending === 0, '25 Events');
    await a.lock();
    steal(name, 'pod-b');
    await new Promise((resolve) => a.once('lost', resolve));
    await waitFor(() => eventsAbout(name).some((e) => e.type === 'Warning'), 'the LeaseLost Event, of a bucket of its own');
    await waitFor(() => front.pending === 0, 'no post pending');
    assert.equal(eventsAbout(name).filter((e) => e.type === 'Normal').length, 25, '27 Normal Events recorded, 25 posted');
  });

  it('refills the rate limit by one Event per five minutes', async () => {
    front.mode = 'store';
    let now = 0;
    const name = uniqueLeaseName('events-refill');
    const kubeConfig = front.kubeConfig();
    // Posts borrow the credentials a lease request applied: make one first.
    await new LeaseLock(kubeConfig, { namespace: 'default', name }, 'pod-a').get();
    const recorder = new LeaseEventRecorder(kubeConfig, { namespace: 'default', name }, 'pod-a', { requestTimeoutMs: 1000, now: () => now });
    const record = (): void => recorder.record({ kind: 'acquired' }, 'pod-a acquired the lock', {});
    for (let i = 0; i < 30; i += 1) record();
    now = 299_999;
    record();
    now = 300_000;
    record();
    record();
    now = 599_999;
    record();
    await waitFor(() => eventsAbout(name).length >= 26 && front.pending === 0, '26 Events');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(eventsAbout(name).length, 26);
  });

  for (const mode of ['fail', 'forbid', 'hang'] as const) {
    it(`an events endpoint that ${mode === 'fail' ? 'answers 500' : mode === 'forbid' ? 'answers 403' : 'never answers'} neither delays nor fails lock(), renewal or unlock()`, async () => {
      front.mode = mode;
      const name = uniqueLeaseName(`events-${mode}`);
      const warnings = eventWarnings(name);
      try {
        // A post that waited for its answer would hold each call up for 5 s.
        const a = locker(name, 'pod-a', { requestTimeoutMs: 5_000 });
        let failed = 0;
        a.on('renewFailed', () => { failed += 1; });
        a.on('lost', () => { failed += 1; });
        let started = performance.now();
        await a.lock();
        assert.ok(performance.now() - started < 2_500, `lock() took ${Math.round(performance.now() - started)} ms`);
        let renewals = 0;
        a.on('renewed', () => { renewals += 1; });
        await waitFor(() => renewals >= 3, 'three renewals', 5_000);
        started = performance.now();
        assert.equal(await a.unlock(), true);
        assert.ok(performance.now() - started < 2_500, `unlock() took ${Math.round(performance.now() - started)} ms`);
        assert.equal(failed, 0, 'no renewal failed, nothing lost');
        await waitFor(() => postsAbout(name) >= 1, 'the events endpoint was asked');
        if (mode === 'hang') assert.ok(front.pending >= 1, 'a post is still waiting for its answer');
        if (mode !== 'forbid') assert.equal(warnings.list.length, 0);
      } finally {
        warnings.stop();
        front.mode = 'store';
      }
    });
  }

  it('after a 403 stops posting, and warns once', async () => {
    front.mode = 'forbid';
    const name = uniqueLeaseName('events-403');
    const warnings = eventWarnings(name);
    try {
      const a = locker(name, 'pod-a');
      await a.lock();
      await waitFor(() => warnings.list.length === 1, 'the LEASELOCKER_EVENTS warning');
      front.mode = 'store';
      await a.unlock();
      await a.lock();
      await a.unlock();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(postsAbout(name), 1, 'one post, refused; none after it');
      assert.equal(eventsAbout(name).length, 0);
      assert.equal(warnings.list.length, 1);
      assert.match(warnings.list[0]?.message ?? '', new RegExp(`default/${name}.*403`));
    } finally {
      warnings.stop();
      front.mode = 'store';
    }
  });

  it('posts nothing at all without recordEvents', async () => {
    front.mode = 'store';
    const names: string[] = [];
    for (const options of [{}, { recordEvents: false }]) {
      const name = uniqueLeaseName('events-off');
      names.push(name);
      const a = new LeaseLocker(front.kubeConfig(), { namespace: 'default', name }, 'pod-a', { ...fastTiming, ...options });
      lockers.push(a);
      await a.lock();
      await a.unlock();
      await a.lock();
      steal(name, 'pod-b');
      await new Promise((resolve) => a.once('lost', resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(names.map(postsAbout), [0, 0]);
  });

  it('records through a LeaseLock built with recordEvents, still calling its eventRecorder', async () => {
    front.mode = 'store';
    const name = uniqueLeaseName('events-lease-lock');
    const lines: string[] = [];
    const lock = new LeaseLock(front.kubeConfig(), { namespace: 'default', name }, 'pod-a', { recordEvents: true, eventRecorder: (line) => lines.push(line) });
    const a = new LeaseLocker(lock, fastTiming);
    lockers.push(a);
    await a.lock();
    await a.unlock();
    await waitFor(() => eventsAbout(name).length === 2, 'both Events');
    assert.deepEqual(eventsAbout(name).map((e) => e.reason), ['LeaseAcquired', 'LeaseReleased']);
    assert.deepEqual(lines, ['pod-a acquired the lock', 'pod-a released the lock']);
  });

  it('refuses recordEvents where no Event can be posted, before any request', () => {
    const api = emulator.kubeConfig().makeApiClient(CoordinationV1Api);
    const ref = { namespace: 'default', name: 'never' };
    const refusal = (field: string) => (error: unknown): boolean => error instanceof InvalidConfigError && error.field === field;
    assert.throws(() => new LeaseLocker(api, ref, 'pod-a', { recordEvents: true }), refusal('recordEvents'));
    assert.throws(() => new LeaseLock(api, ref, 'pod-a', { recordEvents: true }), refusal('recordEvents'));
    assert.throws(() => new LeaseLocker(new MemoryStore().lockFor('pod-a'), { recordEvents: true }), refusal('recordEvents'));
    assert.throws(() => new LeaseLocker(front.kubeConfig(), ref, 'pod-a', { recordEvents: 'yes' as unknown as boolean }), refusal('recordEvents'));
    assert.throws(() => new LeaseLock(front.kubeConfig(), ref, 'pod-a', { recordEvents: 1 as unknown as boolean }), refusal('recordEvents'));
    // Off, a CoordinationV1Api and a ResourceLock are fine.
    assert.ok(new LeaseLocker(api, ref, 'pod-a', { recordEvents: false }));
    assert.ok(new LeaseLocker(new MemoryStore().lockFor('pod-a'), { recordEvents: false }));
  });

  it('lets the process exit with posts in flight', async () => {
    front.mode = 'hang';
    const name = uniqueLeaseName('events-exit');
    try {
      const script = `
        import { KubeConfig } from '@kubernetes/client-node';
        import { LeaseLocker } from './src/index.ts';
        const kubeConfig = new KubeConfig();
        kubeConfig.loadFromOptions({
          clusters: [{ name: 'c', server: ${JSON.stringify(front.url)}, skipTLSVerify: true }],
          users: [{ name: 'u', token: ${JSON.stringify(emulator.token())} }],
          contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
          currentContext: 'ctx',
        });
        // A post would wait a minute for its answer.
        const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 100, requestTimeoutMs: 60000, recordEvents: true };
        const a = new LeaseLocker(kubeConfig, { namespace: 'default', name: ${JSON.stringify(name)} }, 'a', timing);
        await a.lock();
        await new Promise((resolve) => a.once('renewed', resolve));
        console.log(await a.unlock());
      `;
      const exited = runUntilExit(['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), exitTimeoutMs: 10_000 });
      // The acquisition's post reaches the server, which never answers it.
      await waitFor(() => postsAbout(name) >= 1, 'a post held by the server', 120_000);
      const child = await exited;
      assert.equal(child.code, 0, `exited by itself within 10 s of unlocking: ${child.stderr}`);
      assert.equal(child.stdout.trim(), 'true');
      assert.ok(child.exitAfterOutputMs !== undefined && child.exitAfterOutputMs < 10_000);
    } finally {
      front.mode = 'store';
    }
  });

  it('a release whose answer was lost, found done by the next unlock(), is still recorded as LeaseReleased', async () => {
    const name = uniqueLeaseName('events-release-lost');
    const a = locker(name, 'pod-a', { requestTimeoutMs: 500 });
    await a.lock();
    // The server writes the release at once but answers after the request timed out.
    emulator.faults.latency(1_500, { verb: 'update', name, phase: 'response', times: 1 });
    await assert.rejects(a.unlock());
    await waitFor(() => (emulator.getLease('default', name)?.spec?.holderIdentity ?? '') === '', 'the release landed');
    assert.equal(await a.unlock(), true, 'the second unlock() finds it released');
    await waitFor(() => eventsAbout(name).length === 2, 'two Events');
    assert.deepEqual(eventsAbout(name).map((e) => e.reason), ['LeaseAcquired', 'LeaseReleased']);
  });

  it('a locker stopped by its signal (a shutdown) records a Normal LeaseLost, not a Warning', async () => {
    const name = uniqueLeaseName('events-cancel');
    const lifetime = new AbortController();
    const a = locker(name, 'pod-a', { releaseOnCancel: true, signal: lifetime.signal });
    await a.lock();
    lifetime.abort(new Error('SIGTERM'));
    await waitFor(() => eventsAbout(name).some((e) => e.reason === 'LeaseReleased'), 'LeaseReleased');
    assert.deepEqual(eventsAbout(name).map((e) => `${e.type} ${e.reason}`), ['Normal LeaseAcquired', 'Normal LeaseLost', 'Normal LeaseReleased']);
  });

  it('after a 403, no locker with those credentials posts in that namespace again, and the warning is given once', async () => {
    front.mode = 'forbid';
    const names = [uniqueLeaseName('events-403-a'), uniqueLeaseName('events-403-b'), uniqueLeaseName('events-403-c')];
    const warnings = eventWarnings();
    const kubeConfig = front.kubeConfig();
    try {
      for (const name of names) {
        const l = new LeaseLocker(kubeConfig, { namespace: 'default', name }, 'pod-a', { ...fastTiming, recordEvents: true });
        lockers.push(l);
        await l.lock();
        await waitFor(() => front.pending === 0 && warnings.list.length === 1, 'the refusal');
        await l.unlock();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(names.reduce((sum, name) => sum + postsAbout(name), 0), 1, 'one post, refused; none after it');
      assert.equal(warnings.list.length, 1);
    } finally {
      warnings.stop();
      front.mode = 'store';
    }
  });

  it('a post never runs an exec credential plugin of its own: the process exits although the plugin then hangs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leaselocker-exec-'));
    const plugin = join(dir, 'plugin.sh');
    // Answers at once until armed; then once more (the release) and then hangs, as a plugin
    // waiting on an unreachable token endpoint would.
    writeFileSync(plugin, `#!/bin/sh
if [ -e ${dir}/done ]; then sleep 600; fi
if [ -e ${dir}/armed ]; then touch ${dir}/done; fi
printf '%s' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${emulator.token()}"}}'
`);
    chmodSync(plugin, 0o755);
    const name = uniqueLeaseName('events-exec');
    const script = `
      import { writeFileSync } from 'node:fs';
      import { KubeConfig } from '@kubernetes/client-node';
      import { LeaseLocker } from './src/index.ts';
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromOptions({
        clusters: [{ name: 'c', server: ${JSON.stringify(front.url)}, skipTLSVerify: true }],
        users: [{ name: 'u', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: ${JSON.stringify(plugin)}, args: [], interactiveMode: 'Never' } }],
        contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
        currentContext: 'ctx',
      });
      const a = new LeaseLocker(kubeConfig, { namespace: 'default', name: ${JSON.stringify(name)} }, 'a', { recordEvents: true });
      await a.lock();
      writeFileSync(${JSON.stringify(join(dir, 'armed'))}, '');
      console.log(await a.unlock());
    `;
    const child = await runUntilExit(['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), exitTimeoutMs: 10_000 });
    assert.equal(child.stdout.trim(), 'true', child.stderr);
    assert.equal(child.code, 0, `exited by itself after unlock(): ${child.stderr}`);
    await waitFor(() => eventsAbout(name).length === 2, 'both Events, posted with the credentials the lease requests applied');
  });

  it("an API server whose events endpoint hangs holds up no other server's Events", async () => {
    const stuck = await startEventsFront(emulator);
    stuck.mode = 'hang';
    try {
      const stuckConfig = stuck.kubeConfig();
      for (let i = 0; i < 8; i += 1) {
        const l = new LeaseLocker(stuckConfig, { namespace: 'default', name: uniqueLeaseName('events-stuck') }, 'pod-a', { ...fastTiming, requestTimeoutMs: 10_000, recordEvents: true });
        lockers.push(l);
        await l.lock();
      }
      await waitFor(() => stuck.pending === 4, 'four posts in flight to the stuck server, the rest queued');
      const name = uniqueLeaseName('events-healthy');
      await locker(name, 'pod-b').lock();
      await waitFor(() => eventsAbout(name).length === 1, 'the healthy server got its Event', 2_000);
    } finally {
      await stuck.close();
    }
  });
});
