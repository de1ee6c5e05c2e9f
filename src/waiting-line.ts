import { randomBytes } from 'node:crypto';

// The waiting line: who waits for a lock, first come first. Without it every waiter writes the
// instant a lock is released and all but one get 409 Conflict (N writes per handoff), and
// whoever writes first wins, so a releaser that locks again at once, or a waiter close to the
// API server, can win every time. With it, waiters take turns: the first in line writes at
// once, the next only a turn later, and only if the lock is still free by then. The line only
// spaces out writes; every acquisition is still a conditional write on the version it read, so
// a line that is stale, tampered with or ignored by another client can cost time, never safety.

/** One locker in line. */
export interface WaitingTicket {
  /** Random, one per locker: two lockers with the same identity are two tickets. */
  readonly ticket: string;
  /** The locker's identity, for people reading the Lease. */
  readonly identity: string;
  /** Handoffs that passed this ticket by while it stood ahead of the lock's taker; dropped after two. */
  readonly skipped: number;
}

/**
 * How long each place in line waits after the one before it, once the lock is free: about one
 * conditional write and its watch event reaching the others, with room for a busy machine.
 * Also the delay that a departed locker still in line costs a handoff.
 */
export const turnMs = 100;

/** Tickets passed by this many handoffs are dropped: their lockers are gone or cannot keep up. */
const maxSkips = 2;

/** A longer line is not joined: its lockers wait unranked, after everyone in line. */
export const maxLineLength = 100;

/** A ticket for a new locker. */
export function newTicket(): string {
  return randomBytes(6).toString('base64url');
}

/** Place of `ticket` in `line`, 0 first; the line's length when it is not in line. */
export function placeOf(line: readonly WaitingTicket[], ticket: string): number {
  const place = line.findIndex((entry) => entry.ticket === ticket);
  return place === -1 ? line.length : place;
}

/**
 * The line as the taker writes it with its acquisition: without the taker, and with every
 * ticket ahead of it counted as passed by once (dropped after {@link maxSkips}): a locker that
 * missed its turn keeps its place once, then goes (and joins again at the end if it is alive).
 */
export function lineAfterTurn(line: readonly WaitingTicket[], ticket: string): WaitingTicket[] {
  const place = placeOf(line, ticket);
  const ahead = line.slice(0, place)
    .map((entry) => ({ ...entry, skipped: entry.skipped + 1 }))
    .filter((entry) => entry.skipped < maxSkips);
  return [...ahead, ...line.slice(place + 1)];
}

/** Reads a line as stored; anything malformed reads as no line (and is replaced by the next taker). */
export function parseWaitingLine(value: string | undefined): WaitingTicket[] {
  if (value === undefined || value === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  const line: WaitingTicket[] = [];
  const seen = new Set<string>();
  for (const entry of parsed as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return [];
    const { t, id, s } = entry as { t?: unknown; id?: unknown; s?: unknown };
    if (typeof t !== 'string' || t === '' || typeof id !== 'string') return [];
    if (seen.has(t)) continue;
    seen.add(t);
    line.push({ ticket: t, identity: id, skipped: typeof s === 'number' && Number.isSafeInteger(s) && s > 0 ? s : 0 });
    if (line.length >= maxLineLength) break;
  }
  return line;
}

/** The stored form of a line; undefined for an empty one (no annotation). */
export function formatWaitingLine(line: readonly WaitingTicket[]): string | undefined {
  if (line.length === 0) return undefined;
  return JSON.stringify(line.map((entry) => (entry.skipped === 0 ? { t: entry.ticket, id: entry.identity } : { t: entry.ticket, id: entry.identity, s: entry.skipped })));
}

/** True when two lines hold the same tickets in the same order with the same skips. */
export function sameLine(a: readonly WaitingTicket[] | undefined, b: readonly WaitingTicket[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((entry, i) => entry.ticket === b[i]?.ticket && entry.skipped === b[i]?.skipped);
}
