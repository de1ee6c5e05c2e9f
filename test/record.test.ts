import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { V1MicroTime } from '@kubernetes/client-node';
import { MicroTime, formatMicroTime, leaseLockRecordToLeaseSpec, leaseSpecToLeaseLockRecord, sameAcquisition } from '../src/record.js';

describe('LockRecord <-> LeaseSpec', () => {
  it('formats MicroTime with exactly six fractional digits in UTC', () => {
    const at = Date.UTC(2026, 10, 23, 20, 55, 1, 7);
    assert.equal(formatMicroTime(at), '2026-11-23T20:55:01.007000Z');
    assert.equal(JSON.stringify({ t: new MicroTime(at) }), '{"t":"2026-11-23T20:55:01.007000Z"}');
    assert.equal(new MicroTime(at).toISOString(), new V1MicroTime(at).toISOString(), 'same wire form as client-node');
  });

  it('round-trips a record, reading times given as strings (as client-node hands them over)', () => {
    const record = { holderIdentity: 'pod-a', leaseDurationSeconds: 15, acquireTime: new Date(1_000), renewTime: new Date(2_000), leaseTransitions: 7 };
    const spec = JSON.parse(JSON.stringify(leaseLockRecordToLeaseSpec(record))) as Record<string, unknown>;
    assert.equal(spec['renewTime'], '1970-01-01T00:00:02.000000Z');
    const read = leaseSpecToLeaseLockRecord(spec);
    assert.deepEqual({ ...read, acquireTime: read.acquireTime?.getTime(), renewTime: read.renewTime?.getTime() }, { ...record, acquireTime: 1_000, renewTime: 2_000 });
  });

  it('keeps the microseconds a Date cannot hold, so an acquisition reads back exactly as written', () => {
    const read = leaseSpecToLeaseLockRecord({ acquireTime: '2026-01-02T15:04:05.123456Z' as unknown as V1MicroTime, holderIdentity: 'a', leaseTransitions: 2 });
    assert.ok(read.acquireTime instanceof MicroTime);
    assert.equal(read.acquireTime.microseconds, 456);
    assert.equal(JSON.stringify(leaseLockRecordToLeaseSpec(read).acquireTime), '"2026-01-02T15:04:05.123456Z"');
    const other = { ...read, acquireTime: new MicroTime(read.acquireTime.getTime(), 457) };
    assert.equal(sameAcquisition(read, read), true);
    assert.equal(sameAcquisition(other, read), false, 'one microsecond apart: another acquisition');
    assert.equal(sameAcquisition({ ...read, leaseTransitions: 3 }, read), false);
    assert.equal(sameAcquisition({ ...read, holderIdentity: 'b' }, read), false);
    assert.equal(formatMicroTime(new MicroTime(0, 7)), '1970-01-01T00:00:00.000007Z');
  });

  it('reads absent fields as empty and bad times as undefined', () => {
    assert.deepEqual(leaseSpecToLeaseLockRecord(undefined), { holderIdentity: '', leaseDurationSeconds: 0, acquireTime: undefined, renewTime: undefined, leaseTransitions: 0 });
    assert.equal(leaseSpecToLeaseLockRecord({ renewTime: 'yesterday' as unknown as V1MicroTime }).renewTime, undefined);
    assert.equal(leaseSpecToLeaseLockRecord({ renewTime: '2026-01-02T15:04:05.123Z' as unknown as V1MicroTime }).renewTime?.toISOString(), '2026-01-02T15:04:05.123000Z');
  });

  it('does not touch the spec fields it does not own', () => {
    const spec = leaseLockRecordToLeaseSpec({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: undefined, renewTime: undefined, leaseTransitions: 0 });
    assert.deepEqual(Object.keys(spec).sort(), ['holderIdentity', 'leaseDurationSeconds', 'leaseTransitions']);
  });
});
