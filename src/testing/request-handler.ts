// One HTTP request from arrival to answer: routing, the request log, faults,
// authentication and authorization, then the lease handler or a watch.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import { isAllowed, type AccessControl, type Authentication, type LeaseVerb } from './auth.js';
import { discoveryDocument, versionInfo } from './discovery.js';
import {
  faultStatus,
  type FailSpec,
  type FaultInjector,
  type InterceptedRequest,
  type RequestFacts,
  type RequestHook,
} from './faults.js';
import { goQuote } from './go-format.js';
import { apiHeaders, fieldManager, MAX_BODY_BYTES, mediaType, readBody, warningHeaders, writeJson, writeStatus, writeText } from './http-io.js';
import {
  createLease,
  deleteLease,
  deleteLeaseCollection,
  forbiddenFor,
  getLease,
  listLeases,
  listRevision,
  patchLease,
  replaceLease,
  resourceVersionError,
  selectorsOf,
  type LeaseEnvironment,
  type LeaseRequest,
  type Reply,
} from './lease-handlers.js';
import type { LeaseStore } from './lease-store.js';
import type { PendingRecord, RequestLog } from './request-log.js';
import { isTrue, routeOf, verbOf, type Route } from './routes.js';
import { parseFieldSelector } from './selectors.js';
import {
  entityTooLarge,
  forbiddenPath,
  internalError,
  methodNotAllowed,
  routeNotFound,
  StatusError,
  tooLargeResourceVersion,
  unauthorized,
  badRequest,
  type Status,
} from './status.js';
import type { WatchHub } from './watch.js';

/** What the request pipeline works with. */
export interface EmulatorState {
  readonly store: LeaseStore;
  readonly access: AccessControl;
  readonly faults: FaultInjector;
  readonly log: RequestLog;
  readonly watches: WatchHub;
  readonly namespaces: ReadonlySet<string>;
  /** Whether spec.strategy and spec.preferredHolder are kept. */
  readonly coordinatedLeaderElection: boolean;
  /** Aborted when the emulator closes: pending delays end at once. */
  readonly closing: AbortSignal;
  /** Wakes waitFor() predicates. */
  readonly notify: () => void;
}

type LeaseHandler = (env: LeaseEnvironment, request: LeaseRequest) => Reply;

/** The authorization filter's 403 carries this header; a handler's 403 does not. */
const FILTER_REFUSAL_HEADERS = { 'X-Content-Type-Options': 'nosniff' };

/** How long a list waits for a resourceVersion the store has not reached (the watch cache's blockTimeout). */
const LIST_FRESHNESS_WAIT_MS = 3000;

const HANDLERS: Record<Exclude<LeaseVerb, 'watch'>, LeaseHandler> = {
  get: getLease,
  list: listLeases,
  create: createLease,
  update: replaceLease,
  patch: patchLease,
  delete: deleteLease,
  deletecollection: deleteLeaseCollection,
};

/** Answers one request; never rejects. */
export async function handleRequest(state: EmulatorState, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    const url = new URL(request.url ?? '/', 'http://emulator.invalid');
    const route = routeOf(url.pathname);
    const auth = state.access.authenticate(request.headers.authorization);
    if (route.kind !== 'lease' && route.kind !== 'collection') {
      serveOther(route, auth, url.pathname, response);
      return;
    }
    const verb = verbOf(route, request.method ?? 'GET', url.searchParams);
    if (verb === undefined) {
      writeStatus(response, auth.kind === 'failed' ? unauthorized() : methodNotAllowed(), apiHeaders());
      return;
    }
    await serveLease(state, request, response, route, verb, auth, url.searchParams);
  } catch (error) {
    // A bug or a torn connection must not take the server down.
    writeStatus(response, internalError(error instanceof Error ? error.message : String(error)), apiHeaders());
  }
}

function serveOther(route: Route, auth: Authentication, path: string, response: ServerResponse): void {
  const headers = apiHeaders();
  if (auth.kind === 'failed') {
    writeStatus(response, unauthorized(), headers);
    return;
  }
  switch (route.kind) {
    case 'version':
      writeJson(response, 200, versionInfo(), headers);
      return;
    case 'health':
      writeText(response, 200, 'ok', headers);
      return;
    case 'discovery':
      // system:anonymous may read /version and health, not discovery.
      if (auth.kind === 'anonymous') {
        writeStatus(response, forbiddenPath(`User "system:anonymous" cannot get path ${goQuote(path)}`), { ...headers, ...FILTER_REFUSAL_HEADERS });
      }
      else writeJson(response, 200, discoveryDocument(route.document), headers);
      return;
    case 'api-not-found':
      writeStatus(response, routeNotFound(), headers);
      return;
    default:
      writeText(response, 404, '404 page not found\n', headers);
  }
}

async function serveLease(
  state: EmulatorState,
  request: IncomingMessage,
  response: ServerResponse,
  route: Extract<Route, { kind: 'lease' | 'collection' }>,
  verb: LeaseVerb,
  auth: Authentication,
  query: URLSearchParams,
): Promise<void> {
  const namespace = route.namespace;
  const name = route.kind === 'lease' ? route.name : selectedName(query);
  const user = auth.kind === 'failed' ? '' : auth.identity.name;
  const facts: RequestFacts = name === undefined ? { verb, namespace, user } : { verb, namespace, name, user };
  const record = state.log.add({ ...facts, status: 0, at: Date.now() });
  state.notify();
  const headers = apiHeaders();
  const finish = (): void => {
    record.status = response.statusCode;
    state.notify();
  };
  const answer = (status: Status, extraHeaders: Record<string, string> = {}): void => {
    writeStatus(response, status, { ...headers, ...extraHeaders });
    finish();
  };

  const body = await readBody(request);
  if (body === undefined) {
    answer(entityTooLarge(MAX_BODY_BYTES));
    return;
  }
  if (!(await pause(state, response, state.faults.takeLatency(facts, 'request')))) return;
  const hole = state.faults.takeBlackhole(facts);
  if (hole !== undefined && (await state.faults.hold(hole, response)) === 'drop') return;
  for (const hook of state.faults.takeHooks(facts)) {
    const outcome = await runHook(hook, { ...facts, method: request.method ?? 'GET', path: request.url ?? '/', query, headers: request.headers, body });
    if (outcome !== undefined) {
      answerFault(response, outcome, facts, headers, record);
      state.notify();
      return;
    }
  }
  const fail = state.faults.takeFail(facts);
  if (fail !== undefined) {
    answerFault(response, fail, facts, headers, record);
    state.notify();
    return;
  }

  if (auth.kind === 'failed') {
    answer(unauthorized());
    return;
  }
  const identity = auth.identity;
  if (!isAllowed(identity, verb, namespace || undefined)) {
    answer(forbiddenFor(identity, verb, namespace, name ?? '').status, FILTER_REFUSAL_HEADERS);
    return;
  }
  const leaseRequest: LeaseRequest = {
    namespace,
    name: route.kind === 'lease' ? route.name : '',
    query,
    body,
    contentType: mediaType(request.headers['content-type']),
    manager: fieldManager(query, request.headers['user-agent']),
    identity,
    allows: (other) => isAllowed(identity, other, namespace || undefined),
  };
  const env: LeaseEnvironment = {
    store: state.store,
    hasNamespace: (ns) => state.namespaces.has(ns),
    coordinatedLeaderElection: state.coordinatedLeaderElection,
  };

  if (verb === 'watch') {
    try {
      openWatch(state, response, leaseRequest, headers);
      finish();
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      answer(error.status);
    }
    return;
  }

  let reply: Reply | undefined;
  let refusal: Status | undefined;
  try {
    if (verb === 'list') await waitUntilFresh(state, response, query);
    reply = HANDLERS[verb](env, leaseRequest);
  } catch (error) {
    if (!(error instanceof StatusError)) throw error;
    refusal = error.status;
  }
  // A "response" delay lets the server act first: the client may give up on a write that happened.
  if (!(await pause(state, response, state.faults.takeLatency(facts, 'response')))) return;
  if (reply === undefined) {
    answer(refusal ?? internalError('no answer'));
    return;
  }
  const warnings = reply.warnings ?? [];
  writeJson(response, reply.status, reply.body, warnings.length > 0 ? { ...headers, Warning: warningHeaders(warnings) } : headers);
  finish();
}

function openWatch(state: EmulatorState, response: ServerResponse, request: LeaseRequest, headers: Record<string, string>): void {
  const query = request.query;
  const matches = selectorsOf(query);
  const resourceVersion = query.get('resourceVersion') ?? '';
  const versionError = resourceVersionError(resourceVersion);
  if (versionError !== undefined) {
    // The watch cache cannot parse it: a plain error, hence a 500.
    throw new StatusError(internalError(`resourceVersion: Invalid value: ${goQuote(resourceVersion)}: ${versionError}`));
  }
  const timeoutText = query.get('timeoutSeconds');
  if (timeoutText !== null && !/^\d+$/.test(timeoutText)) {
    throw new StatusError(badRequest(`strconv.ParseInt: parsing ${goQuote(timeoutText)}: invalid syntax`));
  }
  const timeoutSeconds = timeoutText === null || Number(timeoutText) === 0 ? undefined : Number(timeoutText);
  state.watches.open(response, {
    namespace: request.namespace || undefined,
    matches,
    resourceVersion,
    allowBookmarks: isTrue(query.get('allowWatchBookmarks')),
    sendInitialEvents: isTrue(query.get('sendInitialEvents')),
    timeoutSeconds,
    headers,
  });
}

/**
 * A list at a resourceVersion the store has not reached waits for it, and
 * answers 504 (thrown as a StatusError) if it is not reached in time.
 */
async function waitUntilFresh(state: EmulatorState, response: ServerResponse, query: URLSearchParams): Promise<void> {
  const required = listRevision(query);
  if (required <= BigInt(state.store.revision)) return;
  const reached = await new Promise<boolean>((resolve) => {
    const done = (value: boolean): void => {
      clearTimeout(timer);
      unsubscribe();
      state.closing.removeEventListener('abort', onGone);
      response.off('close', onGone);
      resolve(value);
    };
    const onGone = (): void => done(false);
    const timer = setTimeout(() => done(false), LIST_FRESHNESS_WAIT_MS);
    const unsubscribe = state.store.subscribe(() => {
      if (BigInt(state.store.revision) >= required) done(true);
    });
    state.closing.addEventListener('abort', onGone, { once: true });
    response.once('close', onGone);
  });
  if (!reached) throw new StatusError(tooLargeResourceVersion(String(required), String(state.store.revision)));
}

/** The lease a list or watch names through `fieldSelector=metadata.name=NAME` (as RBAC sees it). */
function selectedName(query: URLSearchParams): string | undefined {
  try {
    return parseFieldSelector(query.get('fieldSelector') ?? '').name;
  } catch {
    return undefined;
  }
}

/** Waits `ms`; false when the emulator closed or the client left meanwhile. */
async function pause(state: EmulatorState, response: ServerResponse, ms: number): Promise<boolean> {
  if (ms <= 0) return !response.destroyed;
  const left = new AbortController();
  const onClose = (): void => left.abort();
  response.once('close', onClose);
  try {
    await sleep(ms, undefined, { signal: AbortSignal.any([state.closing, left.signal]) });
    return true;
  } catch {
    return false;
  } finally {
    response.off('close', onClose);
  }
}

async function runHook(hook: RequestHook, request: InterceptedRequest): Promise<FailSpec | undefined> {
  try {
    return (await hook(request)) ?? undefined;
  } catch (error) {
    // A hook that throws is a bug in the test: show it in the answer.
    const message = error instanceof Error ? error.message : String(error);
    return { status: 500, reason: 'InternalError', message: `Internal error occurred: onRequest hook threw: ${message}` };
  }
}

function answerFault(
  response: ServerResponse,
  spec: FailSpec,
  facts: RequestFacts,
  headers: Record<string, string>,
  record: PendingRecord,
): void {
  const extra = spec.retryAfterSeconds === undefined ? headers : { ...headers, 'Retry-After': String(spec.retryAfterSeconds) };
  if (spec.body !== undefined) writeText(response, spec.status, spec.body, extra);
  else writeJson(response, spec.status, faultStatus(spec, facts), extra);
  record.status = response.statusCode;
}
