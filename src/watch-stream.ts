import * as http from 'node:http';
import * as https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeaseRequestError } from './errors.js';

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
  /** Until the response headers arrive. */
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
 * Streams a Kubernetes watch over plain node:http(s), with credentials and TLS from the
 * KubeConfig. client-node's own `Watch` cannot be aborted before the response headers arrive,
 * so a silent server would keep its socket open; here every phase has a timeout and the
 * caller's signal destroys the request at once.
 *
 * Resolves when the server ends the stream; rejects with `signal.reason` on abort (wrapped
 * when it is not an Error), with a
 * {@link WatchHttpError} on a non-200 answer, and with a `LeaseRequestError` otherwise.
 */
export async function streamWatch(request: WatchStreamRequest): Promise<void> {
  const { kubeConfig, signal } = request;
  if (signal?.aborted === true) throw signal.reason;
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new LeaseRequestError('watch', { timedOut: false, cause: new Error('the KubeConfig has no current cluster') });
  const url = new URL(cluster.server.replace(/\/$/, '') + request.path);
  for (const [key, value] of Object.entries(request.query)) url.searchParams.set(key, value);
  const options: https.RequestOptions = { headers: { Accept: 'application/json' } };
  await kubeConfig.applyToHTTPSOptions(options);
  const plain = url.protocol === 'http:';
  if (plain) delete options.agent; // the KubeConfig's agent is an https one
  const agent = options.agent;
  const operation = `watch ${url.pathname}`;
  const failed = (cause: unknown): LeaseRequestError => new LeaseRequestError(operation, { timedOut: false, cause });

  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      if (agent instanceof http.Agent) agent.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = (): void => {
      const reason: unknown = signal?.reason;
      finish(reason instanceof Error ? reason : new Error('watch aborted', { cause: reason }));
    };
    const arm = (ms: number, phase: string): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new LeaseRequestError(operation, { timedOut: true, cause: new Error(`no ${phase} within ${ms} ms`) })), ms);
    };

    const req = (plain ? http : https).request(url, { ...options, method: 'GET' }, (response) => {
      if (response.statusCode !== 200) {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => { body += chunk; });
        response.on('end', () => finish(new WatchHttpError(response.statusCode ?? 0, body)));
        response.on('error', (error) => finish(failed(error)));
        return;
      }
      arm(request.idleTimeoutMs, 'event');
      request.onOpen();
      const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY });
      // readline re-emits the response's errors (including the 'aborted' of our own destroy()).
      lines.on('error', (error) => finish(failed(error)));
      lines.on('line', (line) => {
        if (settled || line.trim() === '') return;
        arm(request.idleTimeoutMs, 'event');
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
    req.on('error', (error) => finish(failed(error)));
    signal?.addEventListener('abort', onAbort, { once: true });
    arm(request.connectTimeoutMs, 'response');
    req.end();
  });
}
