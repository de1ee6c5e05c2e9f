// Minimal HTTP(S) GET and a polling loop for readiness checks. Uses a fresh
// connection per request (agent: false) so no keep-alive socket holds the
// event loop open after the cluster stops.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

export function httpGet(
  url: string,
  options: { ca?: string; token?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<HttpResult> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'GET',
        agent: false,
        timeout: options.timeoutMs ?? 5000,
        ...(options.ca !== undefined && { ca: options.ca }),
        ...(options.signal !== undefined && { signal: options.signal }),
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Calls `attempt` every `intervalMs` until it returns a value other than
 * undefined. An exception from `attempt` stops polling and propagates; at the
 * deadline, the error from `onTimeout` is thrown.
 */
export async function pollUntil<T>(
  attempt: () => Promise<T | undefined>,
  options: { deadline: number; intervalMs: number; signal?: AbortSignal | undefined; onTimeout: () => Promise<Error> },
): Promise<T> {
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() >= options.deadline) throw await options.onTimeout();
    try {
      await delay(options.intervalMs, undefined, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      options.signal?.throwIfAborted(); // surface the caller's abort reason, not a generic AbortError
      throw error;
    }
  }
}
