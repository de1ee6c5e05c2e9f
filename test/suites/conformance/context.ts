// What every part of the Lease API conformance suite works with: the server
// under test and a few shorthands over raw HTTP.

import assert from 'node:assert/strict';

import type { KubeConfig } from '@kubernetes/client-node';

import { send, WatchStream, type HttpTarget, type RawAnswer, type RawRequest } from './raw-http.js';

/** An identity allowed only some lease verbs. */
export interface LimitedUser {
  /** The user name as the server reports it in a 403. */
  readonly name: string;
  readonly token: string;
}

/**
 * A Lease API server as the conformance suite sees it: raw HTTP access plus the
 * few things a test cannot do through the API.
 */
export interface ConformanceServer {
  /** For test titles, e.g. "emulator" or "kube-apiserver v1.37.2". */
  readonly name: string;
  /** Base URL. */
  readonly url: string;
  /** PEM CA certificate of an https server. */
  readonly ca: string | undefined;
  /** A bearer token allowed everything. */
  readonly adminToken: string;
  /** The same identity for @kubernetes/client-node. */
  kubeConfig(): KubeConfig;
  /** A namespace that exists and that the suite may fill with leases. */
  readonly namespace: string;
  /** A new identity allowed only `verbs` on leases in {@link namespace}. */
  userWith(verbs: readonly string[]): Promise<LimitedUser>;
  /**
   * Makes the server forget its watch history: afterwards a watch resuming
   * from any resourceVersion issued before answers 410 Expired.
   */
  forgetWatchHistory(): Promise<void>;
  close(): Promise<void>;
}

/** A lease as the server answers it. */
export interface LeaseJson {
  kind: string;
  apiVersion: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    managedFields?: ManagedFieldsJson[];
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  spec: Record<string, unknown>;
}

/** One `metadata.managedFields[]` entry. */
export interface ManagedFieldsJson {
  manager: string;
  operation: string;
  apiVersion: string;
  time: string;
  fieldsType: string;
  fieldsV1: unknown;
}

/** The shorthands of a running suite. */
export class Conformance {
  readonly server: ConformanceServer;
  readonly target: HttpTarget;

  constructor(server: ConformanceServer) {
    this.server = server;
    this.target = { url: server.url, ca: server.ca, token: server.adminToken };
  }

  get namespace(): string {
    return this.server.namespace;
  }

  /** The path of the namespace's leases, or of one lease. */
  path(name?: string, query?: Record<string, string>): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`;
    const path = name === undefined ? base : `${base}/${name}`;
    return query === undefined ? path : `${path}?${new URLSearchParams(query).toString()}`;
  }

  /** The path of a watch on one lease, by field selector. */
  watchPath(name: string, query: Record<string, string> = {}): string {
    return this.path(undefined, { watch: '1', fieldSelector: `metadata.name=${name}`, ...query });
  }

  request(method: string, path: string, request?: RawRequest): Promise<RawAnswer> {
    return send(this.target, method, path, request);
  }

  watch(path: string, request?: RawRequest): Promise<WatchStream> {
    return WatchStream.open(this.target, path, request);
  }

  /** POSTs a lease and returns it; fails unless the server answers 201. */
  async create(name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): Promise<LeaseJson> {
    const answer = await this.request('POST', this.path(), { body: { metadata: { name, ...metadata }, spec } });
    assert.equal(answer.status, 201, answer.text);
    return answer.json<LeaseJson>();
  }

  /** PUTs a lease and returns the answer. */
  put(name: string, metadata: Record<string, unknown>, spec: Record<string, unknown> = {}, request: RawRequest = {}): Promise<RawAnswer> {
    return this.request('PUT', this.path(name), { ...request, body: { metadata: { name, ...metadata }, spec } });
  }

  /** GETs a lease; fails unless the server answers 200. */
  async read(name: string): Promise<LeaseJson> {
    const answer = await this.request('GET', this.path(name));
    assert.equal(answer.status, 200, answer.text);
    return answer.json<LeaseJson>();
  }

  /** The resourceVersion of a fresh list of one name: "now" on the server. */
  async listResourceVersion(name: string): Promise<string> {
    const answer = await this.request('GET', this.path(undefined, { fieldSelector: `metadata.name=${name}` }));
    assert.equal(answer.status, 200, answer.text);
    return answer.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion;
  }
}

/** A Failure Status as the server sends it; `details` only when given. */
export function failureStatus(code: number, reason: string | undefined, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    ...(reason !== undefined && { reason }),
    ...(details !== undefined && { details }),
    code,
  };
}

/** `details` naming one lease. */
export function leaseDetails(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, group: 'coordination.k8s.io', kind: 'leases', ...extra };
}

/** Asserts an answer's status code and its exact Status body, with the key order a Go server writes. */
export function assertStatus(answer: RawAnswer, expected: Record<string, unknown>): void {
  assert.equal(answer.status, expected['code'], answer.text);
  assert.equal(answer.headers['content-type'], 'application/json');
  const body = answer.json();
  assert.deepEqual(body, expected);
  assert.deepEqual(Object.keys(body), Object.keys(expected), 'fields in the order the server writes them');
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const DECIMAL = /^[1-9]\d*$/;
/** metav1.Time: RFC 3339, whole seconds, UTC. */
export const SECONDS_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
/** metav1.MicroTime: six fractional digits, UTC. */
export const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
