// Test identities with real tokens and real RBAC.
//
// kube-apiserver reads --token-auth-file only at start-up, so static tokens
// cannot be added per test. Instead each user is a ServiceAccount in one
// dedicated namespace, and its bearer token comes from the TokenRequest API:
// any number of users, created on demand, authenticated and authorised by the
// same code paths as a workload in a real cluster. The identity the server
// sees is `system:serviceaccount:<USERS_NAMESPACE>:<name>`.
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';
import { setTimeout as delay } from 'node:timers/promises';

export const USERS_NAMESPACE = 'leaselocker-e2e-users';

export interface PolicyRule {
  readonly verbs: string[];
  readonly resources: string[];
  readonly apiGroups: string[];
  readonly resourceNames?: string[];
}

const TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
const RBAC_PROPAGATION_TIMEOUT_MS = 10_000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function assertValidUserName(name: string): void {
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    throw new Error(`user name ${JSON.stringify(name)} must be a DNS label (lower-case letters, digits, '-')`);
  }
}

/** Creates the namespace; an existing namespace is fine (the call is idempotent). */
export async function ensureNamespace(admin: KubeConfig, name: string): Promise<void> {
  try {
    await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 409)) throw error;
  }
}

/** Creates the ServiceAccount behind `name` and returns a bearer token for it. */
export async function createUserToken(admin: KubeConfig, name: string): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace: USERS_NAMESPACE, body: { metadata: { name } } });
  const request = await core.createNamespacedServiceAccountToken({
    name,
    namespace: USERS_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: TOKEN_LIFETIME_SECONDS } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${USERS_NAMESPACE}/${name} returned no token`);
  return token;
}

/** Grants `rules` in `namespace` to user `name` through a Role and RoleBinding of the same name. */
export async function grantRules(
  admin: KubeConfig,
  name: string,
  rules: readonly PolicyRule[],
  namespace: string,
): Promise<void> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const roleName = `leaselocker-e2e-user-${name}`;
  try {
    await rbac.createNamespacedRole({ namespace, body: { metadata: { name: roleName }, rules: [...rules] } });
  } catch (error) {
    if (error instanceof ApiException && error.code === 409) {
      throw new Error(`user ${name} already has rules in namespace ${namespace}; create another user instead`);
    }
    throw error;
  }
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: roleName },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
      subjects: [{ kind: 'ServiceAccount', name, namespace: USERS_NAMESPACE }],
    },
  });
}

/**
 * The RBAC authorizer works from an informer cache, so a fresh RoleBinding
 * takes a moment to apply. Waits, asking as the user itself, until every rule
 * is in effect, so tests never see a spurious 403.
 */
export async function waitForRules(
  user: KubeConfig,
  rules: readonly PolicyRule[],
  namespace: string,
): Promise<void> {
  const authorization = user.makeApiClient(AuthorizationV1Api);
  const deadline = Date.now() + RBAC_PROPAGATION_TIMEOUT_MS;
  for (const rule of rules) {
    const [resource = '', subresource] = (rule.resources[0] ?? '').split('/');
    const resourceAttributes = {
      namespace,
      verb: rule.verbs[0] ?? '',
      group: rule.apiGroups[0] ?? '',
      resource,
      ...(subresource !== undefined && { subresource }),
      ...(rule.resourceNames?.[0] !== undefined && { name: rule.resourceNames[0] }),
    };
    for (;;) {
      const review = await authorization.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes } } });
      if (review.status?.allowed) break;
      if (Date.now() >= deadline) {
        throw new Error(`RBAC rule ${JSON.stringify(resourceAttributes)} not in effect after ${String(RBAC_PROPAGATION_TIMEOUT_MS)} ms`);
      }
      await delay(50);
    }
  }
}
