// Credentials that can be revoked, for rotation tests against a throwaway kube-apiserver: tokens
// from the TokenRequest API bound to a Secret (deleting the Secret revokes the token, as deleting
// a Pod revokes its projected tokens), and RBAC grants to plain user names (client certificates).
import { ApiException, CoordinationV1Api, CoreV1Api, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

import { USERS_NAMESPACE, type PolicyRule } from './kube-users.js';

/** A token that stops authenticating once `revoke()` resolved. */
export interface RevocableToken {
  readonly token: string;
  /** Deletes the Secret the token is bound to. */
  revoke(): Promise<void>;
}

/**
 * Issues a token for ServiceAccount `serviceAccount` (in the users' namespace, see kube-users.ts)
 * bound to a new Secret, valid for an hour unless revoked.
 */
export async function issueRevocableToken(admin: KubeConfig, serviceAccount: string): Promise<RevocableToken> {
  const core = admin.makeApiClient(CoreV1Api);
  const name = `${serviceAccount}-bound-${randomBytes(4).toString('hex')}`;
  const secret = await core.createNamespacedSecret({ namespace: USERS_NAMESPACE, body: { metadata: { name }, type: 'Opaque' } });
  const request = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: USERS_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name, uid: secret.metadata?.uid ?? '' } } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${USERS_NAMESPACE}/${serviceAccount} returned no token`);
  return {
    token,
    revoke: async () => {
      await core.deleteNamespacedSecret({ name, namespace: USERS_NAMESPACE });
    },
  };
}

/** Grants `rules` in `namespace` to the plain user name `user` (a client certificate's CN). Returns a function that takes them away. */
export async function grantUser(admin: KubeConfig, user: string, rules: readonly PolicyRule[], namespace: string): Promise<() => Promise<void>> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const name = `leaselocker-e2e-user-${user}`;
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules: [...rules] } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
  return async () => {
    await rbac.deleteNamespacedRoleBinding({ name, namespace });
  };
}

/**
 * Waits until reading Lease `name` in `namespace` as `kubeConfig` answers `status` (e.g. 401 once
 * a token is revoked, 403 once a grant is taken away, 200 or 404 once it is in effect).
 */
export async function waitForLeaseReadStatus(kubeConfig: KubeConfig, namespace: string, name: string, statuses: readonly number[], timeoutMs = 20_000): Promise<void> {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const deadline = Date.now() + timeoutMs;
  let last: number | string = 'none';
  for (;;) {
    try {
      await api.readNamespacedLease({ name, namespace });
      last = 200;
    } catch (error) {
      last = error instanceof ApiException ? error.code : String(error);
    }
    if (typeof last === 'number' && statuses.includes(last)) return;
    if (Date.now() >= deadline) throw new Error(`reading lease ${namespace}/${name} still answers ${String(last)}, not ${statuses.join(' or ')}, after ${String(timeoutMs)} ms`);
    await delay(50);
  }
}
