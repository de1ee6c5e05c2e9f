// Helpers for driving the Lease API emulator through the real client and raw HTTP.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { TestContext } from 'node:test';

import { ApiException, CoordinationV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';

import type { LeaseLocker } from '../../src/lease-locker.js';
import { startLeaseApiEmulator, type LeaseApiEmulator, type LeaseApiEmulatorOptions, type Status } from '../../src/testing/index.js';

/** Starts an emulator that closes when the test ends. */
export async function startEmulator(t: TestContext, options: LeaseApiEmulatorOptions = {}): Promise<LeaseApiEmulator> {
  const emulator = await startLeaseApiEmulator(options);
  t.after(() => emulator.close());
  return emulator;
}

/**
 * The fixture of a suite of locker tests over one emulator: starts it before the suite's tests;
 * after them clears its faults, unlocks every locker handed to `track`, and closes it.
 */
export function emulatorSuite(): { readonly emulator: LeaseApiEmulator; track(locker: LeaseLocker): LeaseLocker } {
  let started: LeaseApiEmulator | undefined;
  const lockers: LeaseLocker[] = [];
  before(async () => {
    started = await startLeaseApiEmulator();
  });
  after(async () => {
    started?.faults.clear();
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    await started?.close();
  });
  return {
    get emulator(): LeaseApiEmulator {
      if (started === undefined) throw new Error('the emulator starts before the suite\'s tests');
      return started;
    },
    track(locker: LeaseLocker): LeaseLocker {
      lockers.push(locker);
      return locker;
    },
  };
}

/** A CoordinationV1Api client for the emulator's admin or for a user. */
export function leasesApi(emulator: LeaseApiEmulator, user?: string): CoordinationV1Api {
  const config = user === undefined ? emulator.kubeConfig() : emulator.kubeConfig({ user });
  return config.makeApiClient(CoordinationV1Api);
}

/** Awaits a call that must fail, and returns its HTTP code and parsed Status body. */
export async function failure(call: Promise<unknown>): Promise<{ code: number; status: Status }> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ApiException, `expected an ApiException, got ${String(error)}`);
    assert.equal(typeof error.body, 'string', 'client-node gives the raw body as a string');
    return { code: error.code, status: JSON.parse(error.body as string) as Status };
  }
  assert.fail('expected the call to fail');
}

/** The answer of a raw HTTP request. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** Options of {@link raw}. */
export interface RawOptions {
  readonly body?: unknown;
  readonly contentType?: string;
  /** Token to send; null sends none. @default the admin's */
  readonly token?: string | null;
  readonly signal?: AbortSignal;
}

/** A raw request, for what client-node cannot express (bad MicroTimes, odd bodies). */
export async function raw(emulator: LeaseApiEmulator, method: string, path: string, options: RawOptions = {}): Promise<RawAnswer> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? emulator.token() : options.token;
  if (token !== null) headers['Authorization'] = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['Content-Type'] = options.contentType ?? 'application/json';
  }
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = body;
  if (options.signal !== undefined) init.signal = options.signal;
  const response = await fetch(`${emulator.url}${path}`, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** The path of a namespace's leases, or of one lease. */
export function leasePath(namespace: string, name?: string): string {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  return name === undefined ? base : `${base}/${name}`;
}

/** One watch event. */
export interface WatchEvent {
  readonly type: string;
  readonly object: { metadata?: { name?: string; resourceVersion?: string }; [key: string]: unknown };
}

/** A client-node watch that records its events and lets a test wait for them. */
export class WatchRecorder {
  readonly events: WatchEvent[] = [];
  /** Settles when the stream ends: null when the server ended it, else the error. */
  readonly done: Promise<unknown>;
  #controller: AbortController | undefined;
  #wake: (() => void) | undefined;
  #resolveDone!: (error: unknown) => void;

  private constructor() {
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Opens a watch; resolves once the response headers arrived. */
  static async open(config: KubeConfig, path: string, query: Record<string, string | boolean | number>): Promise<WatchRecorder> {
    const recorder = new WatchRecorder();
    recorder.#controller = await new Watch(config).watch(
      path,
      query,
      (type, object) => {
        recorder.events.push({ type, object: object as WatchEvent['object'] });
        recorder.#wake?.();
      },
      (error) => {
        recorder.#resolveDone(error);
        recorder.#wake?.();
      },
    );
    return recorder;
  }

  /** Waits until `count` events arrived (or fails after `timeoutMs`), and returns them. */
  async waitForEvents(count: number, timeoutMs = 3000): Promise<WatchEvent[]> {
    await this.#until(() => this.events.length >= count, timeoutMs, `${count} watch events (got ${this.events.length})`);
    return this.events.slice(0, count);
  }

  /** Waits until the stream ended, and returns how: null, or the error. */
  async ended(timeoutMs = 3000): Promise<unknown> {
    const deadline = AbortSignal.timeout(timeoutMs);
    return Promise.race([
      this.done,
      new Promise((_, reject) => deadline.addEventListener('abort', () => reject(new Error('the watch did not end in time')))),
    ]);
  }

  /** Stops the watch. */
  stop(): void {
    this.#controller?.abort();
  }

  async #until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
