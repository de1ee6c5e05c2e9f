import type { IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeaseRequestError } from './errors.js';
import { openKubeRequest } from './kube-http.js';

/** One line of a watch stream. */
export interface RawWatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** What a watch request needs. */
export interface WatchStreamRequest {
  readonly kubeConfig: KubeConfig;
  /** API path, e.g. `/apis/coordination.k8s.io/v1/namespaces/ns/leases`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Until the response headers arrive (credentials applied and connection made included). */
  readonly connectTimeoutMs: number;
  /** Longest silence tolerated once streaming (the server's `timeoutSeconds` plus a margin). */
  readonly idleTimeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** The stream is open: the server accepted the watch. */
  readonly onOpen: () => void;
  readonly onEvent: (event: RawWatchEvent) => void;
}

/** A non-200 answer to a watch request; its body is the server's Status. */
export class WatchHttpError extends Error {
  constructor(readonly statusCode: number, readonly body: string) {
    super(`watch answered HTTP ${statusCode}`);
  }
}

/**
 * Streams a Kubernetes watch over our own HTTP path (see kube-http.ts: credentials and TLS from
 * the KubeConfig, applied afresh), on a connection of its own. client-node's own `Watch` cannot
 * be aborted before the response headers arrive, so a silent server would keep its socket open;
 * here every phase has a timeout and the caller's signal destroys the request at once.
 *
 * Resolves when the server ends the stream; rejects with `signal.reason` on abort (wrapped
 * when it is not an Error), with a {@link WatchHttpError} on a non-200 answer, with a
 * `CredentialError` when the credentials cannot be applied, and with a `LeaseRequestError` otherwise.
 */
export async function streamWatch(request: WatchStreamRequest): Promise<void> {
  const { kubeConfig, signal } = request;
  if (signal?.aborted === true) throw signal.reason;
  const operation = `watch ${request.path}`;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number, phase: string): void => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new LeaseRequestError(operation, { timedOut: true, cause: new Error(`no ${phase} within ${ms} ms`) })), ms);
  };
  const onAbort = (): void => {
    const reason: unknown = signal?.reason;
    controller.abort(reason instanceof Error ? reason : new Error('watch aborted', { cause: reason }));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  arm(request.connectTimeoutMs, 'response');
  try {
    const response = await openKubeRequest(kubeConfig, { method: 'GET', path: request.path, query: request.query, operation, connection: 'dedicated' }, controller.signal);
    await consume(response, request, operation, controller.signal, () => arm(request.idleTimeoutMs, 'event'));
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Reads the answer: a Status body for a non-200, else events line by line until the server ends the stream. */
async function consume(response: IncomingMessage, request: WatchStreamRequest, operation: string, signal: AbortSignal, onActivity: () => void): Promise<void> {
  const failed = (cause: unknown): LeaseRequestError => new LeaseRequestError(operation, { timedOut: false, cause });
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      response.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = (): void => finish(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) {
      onAbort();
      return;
    }
    if (response.statusCode !== 200) {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => finish(new WatchHttpError(response.statusCode ?? 0, body)));
      response.on('error', (error) => finish(failed(error)));
      return;
    }
    onActivity();
    request.onOpen();
    const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY });
    // readline re-emits the response's errors (including the 'aborted' of our own destroy()).
    lines.on('error', (error) => finish(failed(error)));
    lines.on('line', (line) => {
      if (settled || line.trim() === '') return;
      onActivity();
      let event: RawWatchEvent;
      try {
        event = JSON.parse(line) as RawWatchEvent;
      } catch (error) {
        finish(failed(error));
        return;
      }
      try {
        request.onEvent(event);
      } catch (error) {
        finish(error instanceof Error ? error : new Error('watch event handler failed', { cause: error }));
      }
    });
    response.on('end', () => finish());
    response.on('aborted', () => finish(failed(new Error('the server closed the stream'))));
    response.on('error', (error) => finish(failed(error)));
  });
}
