// The fault proxy that sits between one chaos worker and the API server. It speaks HTTP on
// both sides (TLS on both sides in front of a real kube-apiserver: it serves a certificate of
// the cluster's CA and forwards the worker's Authorization header upstream), so it can act
// per request. While stormy, each request draws its fate from the proxy's seeded PRNG: delayed
// (jitter, or up to 2 × renewDeadline), connection reset, answered 500/503/429 with a Status
// body, forwarded with its answer dropped, or, for a watch, kept open while forwarding nothing.
// A partition black-holes everything: requests are accepted and never answered, open streams
// go mute. heal() ends every fault and resets what was held or muted.
import { Agent as HttpAgent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

import type { Random } from './prng.js';

/** What the proxy did to a request (besides forwarding it untouched). */
export const PROXY_FAULTS = ['jitter', 'latency', 'reset', 'error', 'lostAnswer', 'silentWatch', 'blackhole'] as const;
export type ProxyFault = (typeof PROXY_FAULTS)[number];

/** Per-request chances while stormy. */
export interface ProxyFaultRates {
  /** A delay of up to 100 ms. */
  readonly jitter: number;
  /** A delay of up to `maxLatencyMs`. */
  readonly latency: number;
  readonly reset: number;
  /** 500, 503 or 429 (with Retry-After). */
  readonly error: number;
  readonly lostAnswer: number;
  /** Of watch requests only. */
  readonly silentWatch: number;
}

export interface FaultProxyOptions {
  /** `http://…` or `https://…` of the API server. */
  readonly upstream: string;
  /** CA to verify an https upstream with. */
  readonly upstreamCa?: string;
  /** Serve TLS with this certificate and key; else plain http. */
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly random: Random;
  readonly rates: ProxyFaultRates;
  readonly maxLatencyMs: number;
}

interface Exchange {
  /** Muted exchanges forward nothing more to the client; heal() resets them. */
  muted: boolean;
  readonly destroy: () => void;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

export class FaultProxy {
  readonly url: string;
  readonly counts: Record<ProxyFault, number> = {
    jitter: 0,
    latency: 0,
    reset: 0,
    error: 0,
    lostAnswer: 0,
    silentWatch: 0,
    blackhole: 0,
  };
  /** Draw per-request faults. */
  stormy = false;

  readonly #server: Server;
  readonly #options: FaultProxyOptions;
  readonly #upstream: URL;
  readonly #agent: HttpAgent;
  readonly #exchanges = new Set<Exchange>();
  /** Delayed requests, by their timer: heal() forwards them at once. */
  readonly #delayed = new Map<NodeJS.Timeout, () => void>();
  #partitioned = false;

  private constructor(server: Server, url: string, options: FaultProxyOptions) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.#upstream = new URL(options.upstream);
    this.#agent =
      this.#upstream.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, ...(options.upstreamCa !== undefined && { ca: options.upstreamCa }) })
        : new HttpAgent({ keepAlive: true });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }) : createHttpServer();
    server.requestTimeout = 0; // watches are long requests
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new FaultProxy(server, `${options.tls ? 'https' : 'http'}://127.0.0.1:${String(port)}`, options);
  }

  get partitioned(): boolean {
    return this.#partitioned;
  }

  /** Black-holes the worker: new requests are never answered, open exchanges go mute. */
  partition(): void {
    this.#partitioned = true;
    for (const exchange of this.#exchanges) exchange.muted = true;
  }

  /** Ends every fault: no storm, no partition; muted and held exchanges are reset. */
  heal(): void {
    this.stormy = false;
    this.#partitioned = false;
    for (const [timer, forward] of [...this.#delayed]) {
      clearTimeout(timer);
      this.#delayed.delete(timer);
      forward();
    }
    for (const exchange of [...this.#exchanges]) {
      if (exchange.muted) {
        this.#exchanges.delete(exchange);
        exchange.destroy();
      }
    }
  }

  async close(): Promise<void> {
    for (const timer of this.#delayed.keys()) clearTimeout(timer);
    this.#delayed.clear();
    for (const exchange of this.#exchanges) exchange.destroy();
    this.#exchanges.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    this.#agent.destroy();
    await closed;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const isWatch = /[?&]watch=(true|1)(&|$)/.test(req.url ?? '');
    const reset = (): void => resetSocket(req.socket);
    if (this.#partitioned) {
      this.counts.blackhole++;
      this.#track({ muted: true, destroy: reset });
      req.resume();
      return;
    }
    const fault = this.stormy ? this.#draw(isWatch) : undefined;
    if (fault) this.counts[fault]++;
    if (fault === 'reset') {
      reset();
      return;
    }
    if (fault === 'error') {
      req.resume();
      answerError(res, this.#options.random.pick([500, 503, 429]));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const delayMs =
        fault === 'latency'
          ? this.#options.random.int(0, this.#options.maxLatencyMs)
          : fault === 'jitter'
            ? this.#options.random.int(0, 100)
            : 0;
      const forward = (): void => this.#forward(req, res, Buffer.concat(chunks), { isWatch, fault });
      if (delayMs === 0) {
        forward();
        return;
      }
      const timer = setTimeout(() => {
        this.#delayed.delete(timer);
        forward();
      }, delayMs);
      this.#delayed.set(timer, forward);
    });
  }

  #draw(isWatch: boolean): ProxyFault | undefined {
    const { rates, random } = this.#options;
    const roll = random.next();
    let bound = 0;
    for (const fault of ['reset', 'error', 'lostAnswer', 'latency', 'jitter'] as const) {
      bound += rates[fault];
      if (roll < bound) return fault;
    }
    return isWatch && random.chance(rates.silentWatch) ? 'silentWatch' : undefined;
  }

  #forward(req: IncomingMessage, res: ServerResponse, body: Buffer, how: { isWatch: boolean; fault: ProxyFault | undefined }): void {
    const partitionedMeanwhile = this.#partitioned;
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    }
    headers['host'] = this.#upstream.host;
    if (body.length > 0) headers['content-length'] = String(body.length);
    const request = this.#upstream.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = request({
      protocol: this.#upstream.protocol,
      hostname: this.#upstream.hostname,
      port: this.#upstream.port,
      method: req.method,
      path: req.url,
      headers,
      agent: this.#agent,
    });
    const exchange: Exchange = {
      muted: partitionedMeanwhile || how.fault === 'silentWatch',
      destroy: () => {
        upstream.destroy();
        resetSocket(req.socket);
      },
    };
    this.#track(exchange);
    const settle = (): void => void this.#exchanges.delete(exchange);
    upstream.on('error', () => {
      if (!exchange.muted) {
        settle();
        resetSocket(req.socket);
      }
    });
    upstream.on('response', (answer) => {
      if (how.fault === 'lostAnswer') {
        // The server acted; the client never learns how.
        answer.resume();
        answer.on('end', () => {
          settle();
          resetSocket(req.socket);
        });
        return;
      }
      if (!exchange.muted) {
        const answerHeaders: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (!HOP_BY_HOP.has(name) && value !== undefined) answerHeaders[name] = value;
        }
        res.writeHead(answer.statusCode ?? 502, answerHeaders);
        res.flushHeaders();
      }
      answer.on('data', (chunk: Buffer) => {
        if (!exchange.muted) res.write(chunk);
      });
      answer.on('end', () => {
        if (exchange.muted) return; // held until heal()
        settle();
        res.end();
      });
      answer.on('error', () => {
        if (exchange.muted) return;
        settle();
        resetSocket(req.socket);
      });
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        // The client gave up: a watch ends upstream too; any other request completes there.
        if (how.isWatch) upstream.destroy();
      }
      if (!exchange.muted) settle();
    });
    upstream.end(body);
  }

  #track(exchange: Exchange): void {
    this.#exchanges.add(exchange);
  }
}

function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy(); // RST, as a dropped connection looks
  } catch {
    socket.destroy();
  }
}

function answerError(res: ServerResponse, code: number): void {
  const reason = code === 429 ? 'TooManyRequests' : code === 503 ? 'ServiceUnavailable' : 'InternalError';
  const message =
    code === 429
      ? 'Too many requests, please try again later.'
      : code === 503
        ? 'the server is currently unable to handle the request'
        : 'an error on the server ("chaos") has prevented the request from succeeding';
  const status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
    ...(code === 429 && { details: { retryAfterSeconds: 1 } }),
  };
  const body = JSON.stringify(status);
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...(code === 429 && { 'retry-after': '1' }),
  });
  res.end(body);
}
