import { InvalidConfigError } from './errors.js';

/** The Lease a locker uses, by namespace and name. */
export interface LeaseRef {
  /** The namespace; must exist. An RFC 1123 label (lowercase, at most 63 characters). */
  readonly namespace: string;
  /** The Lease name. Lowercased, then it must be an RFC 1123 subdomain of at most 253 characters. */
  readonly name: string;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Validates a lease reference the way the API server would, before any request is made. */
export function resolveLeaseRef(lease: LeaseRef): LeaseRef {
  if (typeof lease !== 'object' || lease === null) throw new InvalidConfigError('lease', 'must be an object { namespace, name }');
  const { namespace } = lease;
  if (typeof namespace !== 'string' || namespace.length > 63 || !dnsLabel.test(namespace)) {
    throw new InvalidConfigError('lease.namespace', `must be an RFC 1123 label (lowercase letters, digits and '-', at most 63 characters), got ${JSON.stringify(namespace)}`);
  }
  if (typeof lease.name !== 'string') throw new InvalidConfigError('lease.name', 'must be a string');
  // Lowercased as the Go package does, so "Nightly-Report" and "nightly-report" lock the same Lease.
  const name = lease.name.toLowerCase();
  if (name.length > 253 || !dnsSubdomain.test(name)) {
    throw new InvalidConfigError('lease.name', `must be an RFC 1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), got ${JSON.stringify(lease.name)}`);
  }
  return Object.freeze({ namespace, name });
}

/** Validates the identity a locker writes as holder. */
export function resolveIdentity(identity: string): string {
  if (typeof identity !== 'string' || identity.trim() === '') {
    throw new InvalidConfigError('owner', 'must be a non-empty string identifying this process (e.g. the pod name)');
  }
  return identity;
}
