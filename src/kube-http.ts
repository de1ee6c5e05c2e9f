import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { raceAbort } from './abort.js';
import { CredentialError, LeaseLockerError, LeaseRequestError } from './errors.js';
import { log } from './log.js';

// Requests to the API server over node:http(s), with the TLS material and credentials of a
// KubeConfig applied afresh to every request (client-node's own authenticators decide what they
// cache; we cache nothing but connections). One path for client-node 1.x and 2.x: from
// client-node we use only KubeConfig.

/** One request. */
export interface KubeHttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** API path, e.g. `/apis/coordination.k8s.io/v1/namespaces/ns/leases`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>> | undefined;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Names the request in errors and logs, e.g. `update lease ns/name`. */
  readonly operation: string;
  /**
   * `pooled`: over a kept-alive connection shared with other requests. `dedicated`: over a
   * connection of its own, closed with the request (a long watch must not hold a pooled one).
   * @default 'pooled'
   */
  readonly connection?: 'pooled' | 'dedicated';
  /**
   * True for a best-effort request the process may exit in the middle of: neither its socket
   * nor its timeout keeps the event loop alive (a recorded Event, not a lease write).
   * @default false
   */
  readonly unref?: boolean;
}

/** A buffered answer, whatever its status. */
export interface KubeHttpResponse {
  readonly statusCode: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * Sends `request` and resolves with the response once its headers arrive (the caller reads or
 * destroys it). A 401 is answered by one more attempt with credentials applied from a fresh
 * copy of the KubeConfig (see {@link refreshCredentials}). Aborting `signal` destroys the
 * request and its response; the promise then rejects with `signal.reason`.
 *
 * @throws LeaseRequestError when the request cannot be sent (`retryable` false) or gets no answer
 * @throws CredentialError when the KubeConfig's credentials cannot be applied
 */
export async function openKubeRequest(kubeConfig: KubeConfig, request: KubeHttpRequest, signal: AbortSignal): Promise<http.IncomingMessage> {
  try {
    // An exec plugin may hang: the signal cuts applying credentials short too.
    const first = await sendOnce(kubeConfig, request, signal, await raceAbort(prepare(kubeConfig, request, credentialSource(kubeConfig)), signal));
    // A best-effort request never applies credentials itself (see `lastApplied`): its 401 is its answer.
    if (first.statusCode !== 401 || request.unref === true) return first;
    first.destroy(); // its body is of no use, and a server that never sends it must not pin the socket
    log.api('%s: 401 Unauthorized, trying once more with credentials applied afresh', request.operation);
    return await sendOnce(kubeConfig, request, signal, await raceAbort(prepare(kubeConfig, request, refreshCredentials(kubeConfig)), signal));
  } catch (error) {
    if (signal.aborted || error instanceof LeaseLockerError) throw error;
    // Anything else is a bug (ours or a library's): no retry would heal it.
    throw new LeaseRequestError(request.operation, { timedOut: false, retryable: false, cause: error });
  }
}

/**
 * Sends `request` and reads the whole answer, within `timeoutMs` (from the start until the
 * last byte) and until `signal` aborts.
 *
 * @throws the `signal`'s reason when it aborts
 * @throws LeaseRequestError (`timedOut`) after `timeoutMs`, and as {@link openKubeRequest}
 */
export async function kubeRequest(kubeConfig: KubeConfig, request: KubeHttpRequest, timeoutMs: number, signal?: AbortSignal): Promise<KubeHttpResponse> {
  signal?.throwIfAborted();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new LeaseRequestError(request.operation, { timedOut: true })), timeoutMs);
  if (request.unref === true) timer.unref();
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await openKubeRequest(kubeConfig, request, controller.signal);
    return { statusCode: response.statusCode ?? 0, headers: response.headers, body: await readBody(response, request.operation, controller.signal) };
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Where and how to send one request: the URL, and request options with credentials applied. */
interface Prepared {
  readonly url: URL;
  readonly options: https.RequestOptions;
  readonly tls: TlsMaterial;
  /** A proxy agent from client-node, used as is. */
  readonly proxyAgent: http.Agent | undefined;
}

type TlsMaterial = Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'servername' | 'rejectUnauthorized'>;

/**
 * The request options (credentials applied) of the latest request that applied them, per
 * KubeConfig. A best-effort (`unref`) request borrows them instead of applying credentials
 * itself: applying may start an exec credential plugin, whose process would keep the process
 * alive after the request was given up. Lease requests always apply them afresh.
 */
const lastApplied = new WeakMap<KubeConfig, https.RequestOptions>();

/** Checks the cluster of `kubeConfig` and applies the credentials of `credentials` (the same KubeConfig or its fresh copy). */
async function prepare(kubeConfig: KubeConfig, request: KubeHttpRequest, credentials: KubeConfig): Promise<Prepared> {
  const { operation } = request;
  const refuse = (message: string, cause?: unknown): LeaseRequestError =>
    new LeaseRequestError(operation, { timedOut: false, retryable: false, cause: new Error(message, { cause }) });
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw refuse(`the KubeConfig has no current cluster (current context ${JSON.stringify(kubeConfig.getCurrentContext() ?? '')})`);
  let url: URL;
  try {
    url = new URL(cluster.server.replace(/\/$/, '') + request.path);
  } catch (error) {
    throw refuse(`the cluster's server is not a URL`, error instanceof Error ? new Error(error.name) : undefined);
  }
  // Never print a password a server URL may carry.
  const server = JSON.stringify(`${url.protocol}//${url.host}`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse(`the cluster's server ${server} is neither https nor http`);
  if (url.protocol === 'http:' && cluster.skipTLSVerify !== true) {
    throw refuse(`the cluster's server ${server} is plain http, which needs insecure-skip-tls-verify (skipTLSVerify) set`);
  }
  for (const [key, value] of Object.entries(request.query ?? {})) url.searchParams.set(key, value);
  let options: https.RequestOptions = {};
  if (request.unref === true) {
    const applied = lastApplied.get(kubeConfig);
    if (applied === undefined) throw refuse('no lease request has applied the credentials yet');
    options = { ...applied };
  } else {
    try {
      await credentials.applyToHTTPSOptions(options);
    } catch (error) {
      throw new CredentialError(operation, { cause: error });
    }
    lastApplied.set(kubeConfig, { ...options });
  }
  const proxied = (cluster.proxyUrl ?? '') !== '';
  return {
    url,
    options,
    tls: {
      ca: options.ca, cert: options.cert, key: options.key, pfx: options.pfx, passphrase: options.passphrase, servername: options.servername,
      ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    },
    proxyAgent: proxied && options.agent instanceof http.Agent ? options.agent : undefined,
  };
}

// KubeConfig → the fresh copy that served its last 401 (see refreshCredentials).
const refreshed = new WeakMap<KubeConfig, KubeConfig>();

/**
 * Whose authenticators apply the credentials of `kubeConfig`: its own, or the fresh copy made
 * after a 401, for as long as the KubeConfig still says what the copy was made from (the copy
 * shares its clusters, users and contexts; assigning any of them, or another current context,
 * goes back to the KubeConfig's own authenticators).
 */
function credentialSource(kubeConfig: KubeConfig): KubeConfig {
  const copy = refreshed.get(kubeConfig);
  if (copy === undefined) return kubeConfig;
  if (copy.clusters === kubeConfig.clusters && copy.users === kubeConfig.users && copy.contexts === kubeConfig.contexts && copy.currentContext === kubeConfig.currentContext) return copy;
  refreshed.delete(kubeConfig);
  return kubeConfig;
}

/**
 * After a 401: a fresh copy of `kubeConfig` (same clusters, users, contexts), whose
 * authenticators have no cache, so a token file is read again and an exec plugin runs again.
 * client-node keeps a token read from a file for a minute and an exec credential until its
 * expiry (2.x: for ever when it names none), which a revoked token outlives. The copy then
 * serves the later requests of `kubeConfig` (see {@link credentialSource}). A KubeConfig with
 * custom authenticators (`addAuthenticator`) cannot be copied with them: it is used as it is.
 */
function refreshCredentials(kubeConfig: KubeConfig): KubeConfig {
  // client-node keeps custom authenticators in a private field (same name in 1.x and 2.x).
  const custom = (kubeConfig as unknown as { readonly custom_authenticators?: unknown }).custom_authenticators;
  if (!Array.isArray(custom) || custom.length > 0) return kubeConfig;
  const copy = new KubeConfig();
  copy.loadFromOptions({ clusters: kubeConfig.clusters, users: kubeConfig.users, contexts: kubeConfig.contexts, currentContext: kubeConfig.currentContext });
  refreshed.set(kubeConfig, copy);
  return copy;
}

async function sendOnce(kubeConfig: KubeConfig, request: KubeHttpRequest, signal: AbortSignal, prepared: Prepared): Promise<http.IncomingMessage> {
  signal.throwIfAborted();
  const { url, options } = prepared;
  const { operation } = request;
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  // client-node applies headers as an object (Authorization, Impersonate-User).
  const applied = options.headers === undefined || isHeaderList(options.headers) ? {} : options.headers;
  const headers: http.OutgoingHttpHeaders = { ...applied, Accept: 'application/json', 'User-Agent': userAgent };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  const lease = prepared.proxyAgent === undefined ? leaseAgent(kubeConfig, url.protocol, prepared.tls, request.connection ?? 'pooled') : undefined;
  const agent = prepared.proxyAgent ?? lease?.agent;
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, response?: http.IncomingMessage): void => {
      if (settled) return;
      settled = true;
      if (response !== undefined) resolve(response);
      else reject(error ?? new Error('unreachable: no answer and no error'));
    };
    let req: http.ClientRequest;
    try {
      req = transport.request(url, { method: request.method, headers, agent, ...(options.auth === undefined ? {} : { auth: options.auth }) }, (response) => {
        settle(undefined, response);
      });
    } catch (error) {
      // Options Node refuses (a header value with a newline, say): never sent, never retried.
      lease?.release();
      settle(new LeaseRequestError(operation, { timedOut: false, retryable: false, cause: error }));
      return;
    }
    const onAbort = (): void => {
      req.destroy();
      settle(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // A pooled socket is ref'd again when the agent hands it to the next request.
    if (request.unref === true) req.once('socket', (socket) => socket.unref());
    req.on('error', (error) => settle(new LeaseRequestError(operation, { timedOut: false, retryable: isRetryableNetworkError(error), cause: error })));
    req.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      // A proxy agent is client-node's (2.x shares one per cluster and user): left as it is.
      lease?.release();
      // Checked first: building an error (its stack) for every request that did get an answer is waste.
      if (!settled) settle(new LeaseRequestError(operation, { timedOut: false, cause: new Error('the connection closed before an answer') }));
    });
    req.end(body);
  });
}

function isHeaderList(headers: http.OutgoingHttpHeaders | readonly string[]): headers is readonly string[] {
  return Array.isArray(headers);
}

async function readBody(response: http.IncomingMessage, operation: string, signal: AbortSignal): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onAbort = (): void => {
      response.destroy();
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const done = (error?: Error): void => {
      signal.removeEventListener('abort', onAbort);
      if (error === undefined) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(new LeaseRequestError(operation, { timedOut: false, cause: error }));
    };
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => done());
    response.on('error', (error) => done(error));
    response.on('aborted', () => done(new Error('the server closed the connection mid-answer')));
  });
}

const userAgent = 'leaselocker';

// Node codes of failures a later attempt may not meet. Anything else (a TLS verification
// failure such as an unknown CA, a certificate the server refuses, a malformed request) is
// not retried.
const retryableCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL', 'EMFILE', 'ENFILE', 'ENOBUFS', 'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/**
 * True for a failure that a later attempt may not meet: a refused, reset or timed-out
 * connection, a DNS failure. Looks through `cause` chains and aggregate errors (fetch wraps
 * the network error; Node reports one error per address tried).
 */
export function isRetryableNetworkError(error: unknown): boolean {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth += 1) {
    if ('code' in current && typeof current.code === 'string' && retryableCodes.has(current.code)) return true;
    // A proxy agent's own failures carry no code: a proxy answering CONNECT with 429/5xx, or timing out.
    if (current instanceof Error && /^(?:Bad response: (?:429|5\d\d)|Proxy timeout)$/.test(current.message)) return true;
    if (current instanceof AggregateError && current.errors.some((inner) => isRetryableNetworkError(inner))) return true;
    current = 'cause' in current ? current.cause : undefined;
  }
  return false;
}

// Idle pooled sockets are closed after this long; Node unrefs them while idle, so they never
// hold the process open.
const idleSocketTimeoutMs = 30_000;
// Enough parallel requests for a thousand held locks renewing together, few enough to be kind
// to the API server.
const maxSockets = 32;

/** A keep-alive agent of the pool, for one protocol and one set of TLS material. */
interface PoolEntry {
  readonly key: string;
  readonly agent: http.Agent;
  /** Requests using it now. */
  inFlight: number;
  /** KubeConfigs whose latest request used it. */
  users: number;
}

const pool = new Map<string, PoolEntry>();
const latestEntry = new WeakMap<KubeConfig, PoolEntry>();

/**
 * The agent for a request of `kubeConfig`: pooled by TLS material, so that the requests of
 * every KubeConfig with the same CA and client certificate share their connections, and a
 * rotated client certificate gets connections of its own. An agent no KubeConfig uses any more
 * (its certificate was superseded) is destroyed once its last request ends.
 */
function leaseAgent(kubeConfig: KubeConfig, protocol: string, tls: TlsMaterial, connection: 'pooled' | 'dedicated'): { readonly agent: http.Agent; release(): void } {
  if (connection === 'dedicated') {
    const agent = protocol === 'https:' ? new https.Agent({ ...tls, keepAlive: false }) : new http.Agent({ keepAlive: false });
    return { agent, release: () => agent.destroy() };
  }
  const key = cachedTlsKey(kubeConfig, protocol, tls);
  let entry = pool.get(key);
  if (entry === undefined) {
    const agent = protocol === 'https:'
      ? new https.Agent({ ...tls, keepAlive: true, maxSockets, timeout: idleSocketTimeoutMs })
      : new http.Agent({ keepAlive: true, maxSockets, timeout: idleSocketTimeoutMs });
    entry = { key, agent, inFlight: 0, users: 0 };
    pool.set(key, entry);
  }
  const previous = latestEntry.get(kubeConfig);
  if (previous !== entry) {
    latestEntry.set(kubeConfig, entry);
    entry.users += 1;
    if (previous !== undefined) {
      previous.users -= 1;
      log.api('TLS material of a KubeConfig changed: new connections');
      releaseIfUnused(previous);
    }
  }
  entry.inFlight += 1;
  const used = entry;
  let released = false;
  return {
    agent: used.agent,
    release: () => {
      if (released) return;
      released = true;
      used.inFlight -= 1;
      releaseIfUnused(used);
    },
  };
}

function releaseIfUnused(entry: PoolEntry): void {
  if (entry.users > 0 || entry.inFlight > 0 || pool.get(entry.key) !== entry) return;
  pool.delete(entry.key);
  entry.agent.destroy();
}

// KubeConfig → the TLS material of its latest request and its digest. client-node hands out
// fresh buffers with every request; comparing them with the last ones costs far less than
// hashing them again (thousands of renewals a second for a process holding many leases).
const latestTls = new WeakMap<KubeConfig, { readonly protocol: string; readonly tls: TlsMaterial; readonly key: string }>();

function cachedTlsKey(kubeConfig: KubeConfig, protocol: string, tls: TlsMaterial): string {
  const latest = latestTls.get(kubeConfig);
  if (latest !== undefined && latest.protocol === protocol && sameTls(latest.tls, tls)) return latest.key;
  const key = tlsKey(protocol, tls);
  latestTls.set(kubeConfig, { protocol, tls, key });
  return key;
}

function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return samePart(a.ca, b.ca) && samePart(a.cert, b.cert) && samePart(a.key, b.key) && samePart(a.pfx, b.pfx)
    && a.passphrase === b.passphrase && a.servername === b.servername && a.rejectUnauthorized === b.rejectUnauthorized;
}

function samePart(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((part, i) => samePart(part, b[i]));
  return false;
}

/** A digest of the TLS material (never kept in clear, nor logged). */
function tlsKey(protocol: string, tls: TlsMaterial): string {
  const hash = createHash('sha256');
  hash.update(protocol);
  for (const value of [tls.ca, tls.cert, tls.key, tls.pfx, tls.passphrase, tls.servername, tls.rejectUnauthorized]) {
    hash.update('\0');
    for (const part of Array.isArray(value) ? value : [value]) {
      if (part === undefined) hash.update('u');
      else if (typeof part === 'string' || Buffer.isBuffer(part)) hash.update(part);
      else if (typeof part === 'boolean') hash.update(part ? 't' : 'f');
      else hash.update(JSON.stringify(part) ?? '');
      hash.update('\u0001');
    }
  }
  return hash.digest('base64');
}
