// Durations as Go and kubectl write them: "15s", "1m30s", "500ms", "2h", "1.5s", "0".

const nanosPerUnit: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 MICRO SIGN
  'μs': 1_000n, // U+03BC GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const component = /^(\d*)(?:\.(\d*))?([^\d.]+)/;
const nanosPerMs = 1_000_000n;

/** The longest duration a Node.js timer can wait (about 24.8 days); a longer one would fire at once. */
export const maxDurationMs = 2_147_483_647;

/** A duration that is not written as Go writes one, or that does not fit; `message` says why. */
export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

/**
 * Parses a duration as Go's `time.ParseDuration` reads it (the format kubectl and client-go
 * flags use): a sequence of decimal numbers, each with an optional fraction and a unit among
 * `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, such as `15s`, `1m30s`, `500ms`, `1.5h`; `0` alone
 * needs no unit. Negative durations are refused, and so are those that are not whole
 * milliseconds or that exceed {@link maxDurationMs}.
 * @returns the duration in milliseconds.
 * @throws DurationError naming what is wrong.
 */
export function parseDuration(text: string): number {
  const quoted = JSON.stringify(text);
  if (text.startsWith('-')) throw new DurationError(`${quoted} is negative`);
  let rest = text.startsWith('+') ? text.slice(1) : text;
  if (rest === '0') return 0;
  if (rest === '') throw new DurationError(`${quoted} is not a duration (write it as 15s, 1m30s, 500ms or 2h)`);
  let nanos = 0n;
  while (rest !== '') {
    const match = component.exec(rest);
    if (match === null) {
      throw new DurationError(/^[\d.]+$/.test(rest) ? `${quoted} has no unit (write it as 15s, 1m30s, 500ms or 2h)` : `${quoted} is not a duration (write it as 15s, 1m30s, 500ms or 2h)`);
    }
    const [whole, integer = '', fraction = '', unitName = ''] = match;
    const unit = nanosPerUnit[unitName];
    if (unit === undefined) throw new DurationError(`${quoted} has an unknown unit ${JSON.stringify(unitName)} (use ns, us, ms, s, m or h)`);
    if (integer === '' && fraction === '') throw new DurationError(`${quoted} is not a duration (write it as 15s, 1m30s, 500ms or 2h)`);
    nanos += BigInt(integer === '' ? '0' : integer) * unit;
    if (fraction !== '') nanos += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length);
    rest = rest.slice(whole.length);
  }
  if (nanos % nanosPerMs !== 0n) throw new DurationError(`${quoted} is not a whole number of milliseconds`);
  const ms = nanos / nanosPerMs;
  if (ms > BigInt(maxDurationMs)) throw new DurationError(`${quoted} is too long (at most ${formatDuration(maxDurationMs)})`);
  return Number(ms);
}

/**
 * Writes a duration in milliseconds the way {@link parseDuration} reads it, shortest form first:
 * `500ms`, `1.5s`, `1m30s`, `2h`, `0s`. Fractions of a millisecond are rounded.
 */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let left = Math.round(Math.abs(ms));
  if (left === 0) return '0s';
  if (left < 1000) return `${sign}${left}ms`;
  const hours = Math.floor(left / 3_600_000);
  left -= hours * 3_600_000;
  const minutes = Math.floor(left / 60_000);
  left -= minutes * 60_000;
  const seconds = left / 1000;
  const parts = [hours > 0 ? `${hours}h` : '', minutes > 0 ? `${minutes}m` : '', seconds > 0 ? `${Number(seconds.toFixed(3))}s` : ''];
  return sign + parts.join('');
}

/** A duration for people to read: whole seconds from one second up (`2m5s`), milliseconds below. */
export function humanDuration(ms: number): string {
  return Math.abs(ms) < 1000 ? formatDuration(ms) : formatDuration(Math.round(ms / 1000) * 1000);
}
