// Bearer-token authentication and an RBAC-like authorizer for leases: enough to
// give each test identity its own verbs and to answer 401 and 403 exactly as a
// kube-apiserver does.

import { randomBytes } from 'node:crypto';

import { goQuote } from './go-format.js';

/** The verbs of the leases resource, as RBAC names them. */
export const LEASE_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const;

/** A verb of the leases resource. */
export type LeaseVerb = (typeof LEASE_VERBS)[number];

/** The name of the identity behind the emulator's admin token. */
export const ADMIN_USER = 'kubernetes-admin';

/** The identity of a request without credentials, when anonymous requests are allowed. */
export const ANONYMOUS_USER = 'system:anonymous';

/** Who a token belongs to and what it may do. */
export interface Identity {
  readonly name: string;
  readonly token: string;
  readonly verbs: ReadonlySet<LeaseVerb>;
  /** Namespaces the identity may touch; undefined for all. */
  readonly namespaces: ReadonlySet<string> | undefined;
}

/** What authentication concluded about a request. */
export type Authentication =
  | { readonly kind: 'user'; readonly identity: Identity }
  | { readonly kind: 'anonymous'; readonly identity: Identity }
  | { readonly kind: 'failed' };

/** Options of {@link LeaseApiEmulator.addUser}. */
export interface UserOptions {
  /**
   * Lease verbs the user may perform.
   * @default every verb: get, list, watch, create, update, patch, delete, deletecollection
   */
  readonly verbs?: readonly LeaseVerb[];
  /**
   * Namespaces the user may touch.
   * @default every namespace
   */
  readonly namespaces?: readonly string[];
}

/** Tokens and what they allow. */
export class AccessControl {
  readonly admin: Identity;
  readonly #anonymous: Identity;
  readonly #byToken = new Map<string, Identity>();
  readonly #byName = new Map<string, Identity>();
  readonly #anonymousAllowed: boolean;

  constructor(anonymousAllowed: boolean) {
    this.#anonymousAllowed = anonymousAllowed;
    this.admin = this.#register(ADMIN_USER, LEASE_VERBS, undefined);
    this.#anonymous = { name: ANONYMOUS_USER, token: '', verbs: new Set(), namespaces: undefined };
  }

  /** Adds a token identity (or changes the permissions of an existing one, keeping its token). */
  addUser(name: string, options: UserOptions = {}): Identity {
    if (typeof name !== 'string' || name === '') throw new TypeError('addUser: name must be a non-empty string');
    if (name === ADMIN_USER || name === ANONYMOUS_USER) {
      throw new RangeError(`addUser: ${JSON.stringify(name)} is reserved`);
    }
    const verbs = options.verbs ?? LEASE_VERBS;
    for (const verb of verbs) {
      if (!(LEASE_VERBS as readonly string[]).includes(verb)) {
        throw new RangeError(`addUser: unknown verb ${JSON.stringify(verb)}; expected one of ${LEASE_VERBS.join(', ')}`);
      }
    }
    return this.#register(name, verbs, options.namespaces);
  }

  /** The identity of a user name (the admin when omitted). */
  identity(name?: string): Identity {
    if (name === undefined) return this.admin;
    const identity = this.#byName.get(name);
    if (identity === undefined) throw new RangeError(`unknown user ${JSON.stringify(name)}; add it with addUser() first`);
    return identity;
  }

  /**
   * Authenticates an Authorization header as the server's bearer-token
   * authenticator does: a header that is not `Bearer <token>` carries no
   * credentials; an unknown token fails (401) even when anonymous requests are allowed.
   */
  authenticate(header: string | undefined): Authentication {
    const parts = (header ?? '').trim().split(' ');
    const token = parts.length >= 2 && parts[0]?.toLowerCase() === 'bearer' ? (parts[1] ?? '') : '';
    if (token === '') return this.#anonymousAllowed ? { kind: 'anonymous', identity: this.#anonymous } : { kind: 'failed' };
    const identity = this.#byToken.get(token);
    return identity === undefined ? { kind: 'failed' } : { kind: 'user', identity };
  }

  #register(name: string, verbs: readonly LeaseVerb[], namespaces: readonly string[] | undefined): Identity {
    const token = this.#byName.get(name)?.token ?? randomBytes(24).toString('base64url');
    const identity: Identity = {
      name,
      token,
      verbs: new Set(verbs),
      namespaces: namespaces === undefined ? undefined : new Set(namespaces),
    };
    this.#byName.set(name, identity);
    this.#byToken.set(token, identity);
    return identity;
  }
}

/** Whether `identity` may perform `verb` on leases in `namespace` (undefined: all namespaces). */
export function isAllowed(identity: Identity, verb: LeaseVerb, namespace: string | undefined): boolean {
  if (!identity.verbs.has(verb)) return false;
  if (identity.namespaces === undefined) return true;
  return namespace !== undefined && identity.namespaces.has(namespace);
}

/** The authorizer's sentence, as responsewriters.forbiddenMessage words it. */
export function forbiddenReason(user: string, verb: LeaseVerb, namespace: string | undefined): string {
  const scope =
    namespace === undefined || namespace === ''
      ? 'at the cluster scope'
      : `in the namespace ${goQuote(namespace)}`;
  return `User ${goQuote(user)} cannot ${verb} resource "leases" in API group "coordination.k8s.io" ${scope}`;
}
