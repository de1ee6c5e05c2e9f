// Raw HTTP(S) to a Lease API server, for what the conformance suite asserts
// below any client library: status codes, Status bodies, headers and watch
// streams. TLS is verified against the server's CA. Every request has its own
// connection (no agent), so nothing stays open after a test.

import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Where requests go and how they authenticate. */
export interface HttpTarget {
  /** Base URL, `http://HOST:PORT` or `https://HOST:PORT`. */
  readonly url: string;
  /** PEM CA certificate for an https URL. */
  readonly ca: string | undefined;
  /** Bearer token sent when a request does not name another. */
  readonly token: string;
}

/** Options of one request. */
export interface RawRequest {
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  /** @default 'application/json' when there is a body */
  readonly contentType?: string;
  /** Bearer token; null sends no Authorization header. @default the target's */
  readonly token?: string | null;
  /** Becomes the field manager of writes. @default USER_AGENT */
  readonly userAgent?: string;
}

/** The field manager the server derives from {@link USER_AGENT}. */
export const FIELD_MANAGER = 'leaselocker-conformance';
/** The User-Agent of every request unless one names another. */
export const USER_AGENT = `${FIELD_MANAGER}/1.0`;

const REQUEST_TIMEOUT_MS = 10_000;

/** A complete answer. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body exactly as sent. */
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** Sends one request and reads the whole answer. */
export async function send(target: HttpTarget, method: string, path: string, request: RawRequest = {}): Promise<RawAnswer> {
  const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
  const response = await open(target, method, path, request, body, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
  const text = await readAll(response);
  return answer(response, text);
}

/** One event of a watch stream. */
export interface WatchEvent {
  readonly type: string;
  readonly object: Record<string, unknown> & { metadata?: Record<string, unknown> };
}

/**
 * A watch stream, read as newline-delimited JSON events while it is open.
 * Waits are conditions with deadlines: `nextEvent`, `ended`.
 */
export class WatchStream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Every event received so far, in order. */
  readonly events: WatchEvent[] = [];
  /** When the headers arrived, in performance.now() milliseconds. */
  readonly openedAt: number;
  /** When the server ended the stream, or undefined while it is open. */
  endedAt: number | undefined;
  /** The body of a non-200 answer. */
  errorText = '';
  readonly #response: IncomingMessage;
  readonly #controller: AbortController;
  readonly #waiters = new Set<() => void>();
  #read = 0;

  private constructor(response: IncomingMessage, controller: AbortController) {
    this.#response = response;
    this.#controller = controller;
    this.status = response.statusCode ?? 0;
    this.headers = response.headers;
    this.openedAt = performance.now();
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      if (this.status !== 200) {
        this.errorText += chunk;
        return;
      }
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line !== '') this.events.push(JSON.parse(line) as WatchEvent);
      }
      this.#wake();
    });
    const finish = (): void => {
      this.endedAt ??= performance.now();
      this.#wake();
    };
    response.on('end', finish);
    response.on('close', finish);
    response.on('error', finish);
  }

  /** Opens a watch; resolves once the response headers arrived. */
  static async open(target: HttpTarget, path: string, request: RawRequest = {}): Promise<WatchStream> {
    const controller = new AbortController();
    const response = await open(target, 'GET', path, request, undefined, controller.signal);
    return new WatchStream(response, controller);
  }

  /** The next event not returned before; fails after `timeoutMs` or when the stream ends first. */
  async nextEvent(timeoutMs = 5_000): Promise<WatchEvent> {
    await this.#until(() => this.events.length > this.#read || this.endedAt !== undefined, timeoutMs, 'the next watch event');
    const event = this.events[this.#read];
    if (event === undefined) throw new Error(`the watch ended after ${this.events.length} events; expected another`);
    this.#read += 1;
    return event;
  }

  /** Waits until the server ends the stream; fails after `timeoutMs`. */
  async ended(timeoutMs = 5_000): Promise<void> {
    await this.#until(() => this.endedAt !== undefined, timeoutMs, 'the end of the watch');
  }

  /** Closes the stream from our side. */
  close(): void {
    this.#controller.abort();
    this.#response.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  async #until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.events.length} events so far)`));
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }
}

function open(
  target: HttpTarget,
  method: string,
  path: string,
  request: RawRequest,
  body: string | undefined,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const url = new URL(path, target.url);
  const headers: Record<string, string> = { 'User-Agent': request.userAgent ?? USER_AGENT, Accept: 'application/json' };
  const token = request.token === undefined ? target.token : request.token;
  if (token !== null) headers['Authorization'] = `Bearer ${token}`;
  if (body !== undefined) {
    headers['Content-Type'] = request.contentType ?? 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(body));
  }
  const options: RequestOptions & { ca?: string } = { method, headers, agent: false, signal };
  const secure = url.protocol === 'https:';
  if (secure && target.ca !== undefined) options.ca = target.ca;
  return new Promise((resolve, reject) => {
    const outgoing = (secure ? httpsRequest : httpRequest)(url, options, resolve);
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function readAll(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function answer(response: IncomingMessage, text: string): RawAnswer {
  return {
    status: response.statusCode ?? 0,
    headers: response.headers,
    text,
    json: <T>() => JSON.parse(text) as T,
  };
}
