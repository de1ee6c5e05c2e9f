// recordEvents against a real kube-apiserver: the Events it posts pass the server's validation
// and are stored with the fields expected; the RBAC rule the README documents is enough; and an
// identity without it still locks and unlocks, warned once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api, EventsV1Api } from '@kubernetes/client-node';
import type { EventsV1Event, KubeConfig } from '@kubernetes/client-node';
import { LeaseLocker, LockLostError, MicroTime } from '../../src/index.js';
import type { LeaseLockerOptions } from '../../src/index.js';
import { waitFor } from '../helpers/wait-for.js';
import { uniqueLeaseName } from '../suites/lease-server.js';
import { startKubeCluster } from './kube-cluster.js';
import type { KubeCluster, PolicyRule } from './kube-cluster.js';

const namespace = 'leaselocker-e2e-events';
const leaseRule: PolicyRule = { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update'] };
// The rule the README's RBAC section adds for recordEvents.
const eventsRule: PolicyRule = { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] };
const timing: LeaseLockerOptions = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 300, requestTimeoutMs: 3_000 };
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

describe('recordEvents against a real kube-apiserver', () => {
  let cluster: KubeCluster;
  let withEvents: KubeConfig;
  let leasesOnly: KubeConfig;
  const lockers: LeaseLocker[] = [];

  before(async () => {
    cluster = await startKubeCluster();
    await cluster.createNamespace(namespace);
    withEvents = await cluster.createUser('events-allowed', [leaseRule, eventsRule], namespace);
    leasesOnly = await cluster.createUser('events-not-allowed', [leaseRule], namespace);
  });
  after(async () => {
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    await cluster.stop();
  });

  const locker = (kubeConfig: KubeConfig, name: string, owner: string): LeaseLocker => {
    const created = new LeaseLocker(kubeConfig, { namespace, name }, owner, { ...timing, recordEvents: true });
    lockers.push(created);
    return created;
  };
  /** The Events about lease `name`, as the server lists them, oldest first. */
  const eventsAbout = async (name: string): Promise<EventsV1Event[]> => {
    const list = await cluster.adminKubeConfig().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
    return list.items
      .filter((e) => e.regarding?.name === name)
      .sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
  };
  const until = async (name: string, reasons: readonly string[]): Promise<EventsV1Event[]> => {
    let events: EventsV1Event[] = [];
    await waitFor(async () => {
      events = await eventsAbout(name);
      return reasons.every((reason) => events.some((e) => e.reason === reason));
    }, `Events ${reasons.join(', ')} about ${name}`, 15_000);
    return events;
  };
  const leaseUid = async (name: string): Promise<string> => {
    const lease = await cluster.adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name });
    return lease.metadata?.uid ?? assert.fail('the Lease has no uid');
  };

  it('stores the LeaseAcquired and LeaseReleased Events of a lock and unlock, with the README\'s RBAC rules', async () => {
    const name = uniqueLeaseName('events');
    const a = locker(withEvents, name, 'pod-a');
    await a.lock();
    const uid = await leaseUid(name);
    assert.equal(await a.unlock(), true);
    const events = await until(name, ['LeaseAcquired', 'LeaseReleased']);
    assert.equal(events.length, 2, 'one Event each');
    const [acquired, released] = events;
    for (const [event, action, reason, note] of [[acquired, 'Acquire', 'LeaseAcquired', 'pod-a acquired the lock'], [released, 'Release', 'LeaseReleased', 'pod-a released the lock']] as const) {
      assert.ok(event !== undefined);
      assert.deepEqual(
        { action: event.action, reason: event.reason, type: event.type, note: event.note, reportingController: event.reportingController, reportingInstance: event.reportingInstance },
        { action, reason, type: 'Normal', note, reportingController: 'leaselocker', reportingInstance: 'pod-a' },
      );
      assert.deepEqual(
        { apiVersion: event.regarding?.apiVersion, kind: event.regarding?.kind, namespace: event.regarding?.namespace, name: event.regarding?.name, uid: event.regarding?.uid },
        { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace, name, uid },
      );
      assert.match(event.metadata?.name ?? '', new RegExp(`^${name}\\.[0-9a-f]+$`));
      assert.equal(event.metadata?.namespace, namespace);
      assert.match(String(event.eventTime), microTime);
    }
  });

  it('stores a loss as a Warning naming the identity and the reason', async () => {
    const name = uniqueLeaseName('events-lost');
    const a = locker(withEvents, name, 'pod-a');
    await a.lock();
    const lost = new Promise<LockLostError>((resolve) => a.once('lost', resolve));
    const api = cluster.adminKubeConfig().makeApiClient(CoordinationV1Api);
    const lease = await api.readNamespacedLease({ namespace, name });
    const now = new MicroTime(Date.now());
    await api.replaceNamespacedLease({ namespace, name, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'pod-b', acquireTime: now, renewTime: now } } });
    assert.equal((await lost).reason, 'taken');
    const events = await until(name, ['LeaseAcquired', 'LeaseLost']);
    const loss = events.find((e) => e.reason === 'LeaseLost');
    assert.deepEqual([loss?.action, loss?.type, loss?.note], ['Renew', 'Warning', 'pod-a lost the lock (taken: now held by pod-b)']);
  });

  it('fits the longest lease name and a long identity into the limits the server enforces', async () => {
    const name = `${uniqueLeaseName('events-long')}.${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`.slice(0, 253);
    assert.equal(name.length, 253);
    const identity = `pod-${'é'.repeat(700)}`;
    const a = locker(withEvents, name, identity);
    await a.lock();
    await a.unlock();
    const [acquired] = await until(name, ['LeaseAcquired', 'LeaseReleased']);
    assert.ok(identity.startsWith(acquired?.reportingInstance ?? '-'));
    assert.ok(Buffer.byteLength(acquired?.reportingInstance ?? '') <= 128);
    assert.ok(Buffer.byteLength(acquired?.note ?? '') <= 1024);
  });

  it('an identity without the events rule still locks and unlocks, warned once, and nothing is stored', async () => {
    const name = uniqueLeaseName('events-forbidden');
    const warnings: Error[] = [];
    const onWarning = (warning: Error & { code?: string }): void => {
      if (warning.code === 'LEASELOCKER_EVENTS' && warning.message.includes(`${namespace}/${name} `)) warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const a = locker(leasesOnly, name, 'pod-a');
      await a.lock();
      await waitFor(() => warnings.length === 1, 'the LEASELOCKER_EVENTS warning', 15_000);
      assert.equal(await a.unlock(), true);
      await a.lock();
      let renewals = 0;
      a.on('renewed', () => { renewals += 1; });
      await waitFor(() => renewals >= 2, 'two renewals', 10_000);
      assert.equal(await a.unlock(), true);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]?.message ?? '', /403/);
      assert.deepEqual(await eventsAbout(name), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
