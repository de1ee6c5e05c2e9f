// Which endpoint a request path names, and which verb a method is on it.

import type { LeaseVerb } from './auth.js';

/** What a path names. */
export type Route =
  | { readonly kind: 'lease'; readonly namespace: string; readonly name: string }
  /** `namespace` is empty for the cluster-wide collection. */
  | { readonly kind: 'collection'; readonly namespace: string }
  | { readonly kind: 'version' }
  | { readonly kind: 'health' }
  | { readonly kind: 'discovery'; readonly document: 'apis' | 'group' | 'version' }
  /** Inside coordination.k8s.io/v1 but nothing served there: the API router's 404. */
  | { readonly kind: 'api-not-found' }
  /** Anywhere else: the plain-text 404 of the server's fallback handler. */
  | { readonly kind: 'not-found' };

const GROUP_VERSION_PREFIX = ['apis', 'coordination.k8s.io', 'v1'];

/** Routes a URL path. */
export function routeOf(pathname: string): Route {
  let segments: string[];
  try {
    segments = pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return { kind: 'not-found' };
  }
  const path = segments.join('/');
  if (path === 'version' || path === 'version/') return { kind: 'version' };
  if (['healthz', 'readyz', 'livez'].includes(path)) return { kind: 'health' };
  if (path === 'apis' || path === 'apis/') return { kind: 'discovery', document: 'apis' };
  if (path === 'apis/coordination.k8s.io' || path === 'apis/coordination.k8s.io/') return { kind: 'discovery', document: 'group' };
  if (GROUP_VERSION_PREFIX.some((segment, i) => segments[i] !== segment)) return { kind: 'not-found' };
  const rest = segments.slice(GROUP_VERSION_PREFIX.length);
  if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return { kind: 'discovery', document: 'version' };
  if (rest.length === 1 && rest[0] === 'leases') return { kind: 'collection', namespace: '' };
  const [namespaces, namespace, leases, name, ...more] = rest;
  if (namespaces !== 'namespaces' || !namespace || leases !== 'leases' || more.length > 0) return { kind: 'api-not-found' };
  if (name === undefined) return { kind: 'collection', namespace };
  return name === '' ? { kind: 'api-not-found' } : { kind: 'lease', namespace, name };
}

/** Go's strconv.ParseBool truth values (how `watch=` is read). */
export function isTrue(value: string | null): boolean {
  return value !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value);
}

/** The verb of a method on a lease route; undefined when the route does not serve the method (405). */
export function verbOf(route: Extract<Route, { kind: 'lease' | 'collection' }>, method: string, query: URLSearchParams): LeaseVerb | undefined {
  if (route.kind === 'lease') {
    const verbs: Record<string, LeaseVerb> = { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    return verbs[method];
  }
  if (method === 'GET') return isTrue(query.get('watch')) ? 'watch' : 'list';
  if (route.namespace === '') return undefined;
  if (method === 'POST') return 'create';
  return method === 'DELETE' ? 'deletecollection' : undefined;
}
