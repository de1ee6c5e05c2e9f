// Reading requests and writing answers with the headers a kube-apiserver sends.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { goQuote } from './go-format.js';
import type { Status } from './status.js';

/** The server's request body limit (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Reads the whole body as UTF-8; undefined when it exceeds {@link MAX_BODY_BYTES}. */
export async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    // Keep draining past the limit so the connection stays usable for the answer.
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

/** Headers every API answer carries. */
export function apiHeaders(): Record<string, string> {
  return { 'Audit-Id': randomUUID(), 'Cache-Control': 'no-cache, private' };
}

/** The media type of a Content-Type header, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The field manager: the fieldManager parameter, else the User-Agent up to its first "/". */
export function fieldManager(query: URLSearchParams, userAgent: string | undefined): string {
  const explicit = query.get('fieldManager');
  if (explicit) return explicit;
  const prefix = (userAgent ?? '').split('/')[0] ?? '';
  return prefix === '' ? 'unknown' : prefix;
}

/** Writes a JSON answer. */
export function writeJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  if (response.headersSent || response.destroyed) return;
  const text = goJson(body);
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}

/**
 * JSON as Go's encoder writes it: `<`, `>` and `&` (and U+2028, U+2029) escaped,
 * so `(<empty>)` in a message reads `(\u003cempty\u003e)` on the wire. These
 * characters only occur inside strings, where the escapes mean the same.
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Writes a plain-text answer, as Go's http.Error and the health endpoints do. */
export function writeText(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** Writes a Status, with `Retry-After` when its details ask for one (as ErrorNegotiated does). */
export function writeStatus(response: ServerResponse, status: Status, headers: Record<string, string> = {}): void {
  const retryAfter = status.details?.retryAfterSeconds;
  const extra = retryAfter ? { ...headers, 'Retry-After': String(retryAfter) } : headers;
  writeJson(response, status.code ?? 500, status, extra);
}

/** `Warning` header values for the given warnings. */
export function warningHeaders(warnings: readonly string[]): string[] {
  return warnings.map((warning) => `299 - ${goQuote(warning)}`);
}
