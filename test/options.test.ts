import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { InvalidConfigError } from '../src/errors.js';
import { LeaseLocker } from '../src/lease-locker.js';
import type { LeaseLockerOptions } from '../src/options.js';

/** A kubeconfig whose every request would fail loudly: construction must not send any. */
function unreachableConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const lease = { namespace: 'default', name: 'nightly-report' };

function rejects(field: string, build: () => unknown): void {
  assert.throws(build, (e: unknown) => {
    assert.ok(e instanceof InvalidConfigError, `expected InvalidConfigError, got ${String(e)}`);
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.equal(e.field, field);
    assert.match(e.message, new RegExp(field.replace('.', '\\.')));
    return true;
  });
}

describe('construction validates synchronously and does no I/O', () => {
  const kc = unreachableConfig();
  const withOptions = (options: LeaseLockerOptions) => () => new LeaseLocker(kc, lease, 'pod-a', options);

  it('accepts the defaults and a CoordinationV1Api', () => {
    const locker = new LeaseLocker(kc, lease, 'pod-a');
    assert.equal(locker.identity, 'pod-a');
    assert.equal(locker.isLocked, false);
    assert.equal(locker.fencingToken, undefined);
    assert.equal(locker.signal.aborted, true, 'no hold yet');
    new LeaseLocker(kc.makeApiClient(CoordinationV1Api), lease, 'pod-a');
  });

  it('lowercases the lease name and checks it is a DNS subdomain', () => {
    new LeaseLocker(kc, { namespace: 'default', name: 'Nightly-Report.v2' }, 'pod-a');
    rejects('lease.name', () => new LeaseLocker(kc, { namespace: 'default', name: 'bad_name' }, 'pod-a'));
    rejects('lease.name', () => new LeaseLocker(kc, { namespace: 'default', name: '' }, 'pod-a'));
    rejects('lease.name', () => new LeaseLocker(kc, { namespace: 'default', name: 'a'.repeat(254) }, 'pod-a'));
    rejects('lease.name', () => new LeaseLocker(kc, { namespace: 'default', name: '-leading' }, 'pod-a'));
  });

  it('checks the namespace is a DNS label', () => {
    rejects('lease.namespace', () => new LeaseLocker(kc, { namespace: 'Default', name: 'x' }, 'pod-a'));
    rejects('lease.namespace', () => new LeaseLocker(kc, { namespace: 'a.b', name: 'x' }, 'pod-a'));
    rejects('lease.namespace', () => new LeaseLocker(kc, { namespace: 'a'.repeat(64), name: 'x' }, 'pod-a'));
  });

  it('requires a non-empty owner', () => {
    rejects('owner', () => new LeaseLocker(kc, lease, ''));
    rejects('owner', () => new LeaseLocker(kc, lease, '   '));
  });

  it('enforces leaseDuration > renewDeadline > 1.2 × retryPeriod > 0, in whole seconds', () => {
    rejects('leaseDurationMs', withOptions({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }));
    rejects('leaseDurationMs', withOptions({ leaseDurationMs: 15_500 }));
    rejects('renewDeadlineMs', withOptions({ renewDeadlineMs: 2_400, retryPeriodMs: 2_000 }));
    rejects('retryPeriodMs', withOptions({ retryPeriodMs: 0 }));
    rejects('retryPeriodMs', withOptions({ retryPeriodMs: -5 }));
    rejects('requestTimeoutMs', withOptions({ requestTimeoutMs: 1.5 }));
    rejects('unlockWithRetryPeriodMs', withOptions({ unlockWithRetryPeriodMs: Number.NaN }));
    new LeaseLocker(kc, lease, 'pod-a', { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 });
  });

  it('rejects unknown options, wrong types and a bad clock or signal', () => {
    rejects('leaseDuration', withOptions({ leaseDuration: 15 } as LeaseLockerOptions));
    rejects('releaseOnCancel', withOptions({ releaseOnCancel: 'yes' } as unknown as LeaseLockerOptions));
    rejects('signal', withOptions({ signal: {} as AbortSignal }));
    rejects('clock', withOptions({ clock: { now: () => 0 } as unknown as LeaseLockerOptions['clock'] & object }));
    rejects('name', withOptions({ name: '' }));
  });

  it('rejects a client that is neither a KubeConfig nor a CoordinationV1Api', () => {
    rejects('kubeConfig', () => new LeaseLocker({} as KubeConfig, lease, 'pod-a'));
  });

  it('rejects a ResourceLock missing its methods', () => {
    rejects('kubeConfig', () => new LeaseLocker({ identity: 'x' } as unknown as KubeConfig, lease, 'pod-a'));
  });
});
