// Timestamps as the API server parses them: Go's time.Parse against a fixed
// layout. MicroTime (spec.acquireTime, spec.renewTime) uses
// "2006-01-02T15:04:05.000000Z07:00" and so demands exactly six fractional
// digits; a JavaScript Date.toISOString() (three digits) is refused. The error
// text is Go's, because clients and tests match on it.

import { goTimeQuote } from './go-format.js';

/** Which layout to parse against. */
export type TimeLayout = 'micro' | 'seconds';

const LAYOUT_TEXT: Record<TimeLayout, string> = {
  micro: '2006-01-02T15:04:05.000000Z07:00',
  seconds: '2006-01-02T15:04:05Z07:00',
};

type Element = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'fraction' | 'zone';

const ELEMENT_TEXT: Record<Element, string> = {
  year: '2006',
  month: '01',
  day: '02',
  hour: '15',
  minute: '04',
  second: '05',
  fraction: '.000000',
  zone: 'Z07:00',
};

const ELEMENTS: Record<TimeLayout, readonly (readonly [string, Element])[]> = {
  micro: [['', 'year'], ['-', 'month'], ['-', 'day'], ['T', 'hour'], [':', 'minute'], [':', 'second'], ['', 'fraction'], ['', 'zone']],
  seconds: [['', 'year'], ['-', 'month'], ['-', 'day'], ['T', 'hour'], [':', 'minute'], [':', 'second'], ['', 'zone']],
};

/** A parsed instant: whole UTC seconds (as epoch milliseconds) plus microseconds. */
export interface ParsedTime {
  readonly ok: true;
  readonly epochSecondsMs: number;
  readonly micros: number;
}

/** A parse failure, with Go's message. */
export interface TimeParseFailure {
  readonly ok: false;
  readonly message: string;
}

/** Parses `value` as Go's time.Parse would with the given layout. */
export function parseGoTime(value: string, layout: TimeLayout): ParsedTime | TimeParseFailure {
  const layoutText = LAYOUT_TEXT[layout];
  const cannotParse = (rest: string, element: string): TimeParseFailure => ({
    ok: false,
    message: `parsing time ${goTimeQuote(value)} as ${goTimeQuote(layoutText)}: cannot parse ${goTimeQuote(rest)} as ${goTimeQuote(element)}`,
  });
  const outOfRange = (what: string): TimeParseFailure => ({
    ok: false,
    message: `parsing time ${goTimeQuote(value)}: ${what} out of range`,
  });

  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, nanos: 0, offsetSeconds: 0 };
  let rest = value;
  for (const [prefix, element] of ELEMENTS[layout]) {
    for (const char of prefix) {
      if (rest[0] !== char) return cannotParse(rest, prefix);
      rest = rest.slice(1);
    }
    const hold = rest;
    const step = parseElement(element, rest, layout);
    if (step.range !== undefined) return outOfRange(step.range);
    if (step.bad) return cannotParse(hold, ELEMENT_TEXT[element]);
    rest = step.rest;
    Object.assign(fields, step.fields);
  }
  if (rest !== '') {
    return { ok: false, message: `parsing time ${goTimeQuote(value)}: extra text: ${goTimeQuote(rest)}` };
  }
  if (fields.day < 1 || fields.day > daysIn(fields.month, fields.year)) return outOfRange('day');

  const date = new Date(0);
  date.setUTCFullYear(fields.year, fields.month - 1, fields.day);
  date.setUTCHours(fields.hour, fields.minute, fields.second, 0);
  return {
    ok: true,
    epochSecondsMs: date.getTime() - fields.offsetSeconds * 1000,
    micros: Math.floor(fields.nanos / 1000),
  };
}

interface Step {
  readonly rest: string;
  readonly bad?: boolean;
  readonly range?: string;
  readonly fields?: Partial<Record<'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'nanos' | 'offsetSeconds', number>>;
}

function parseElement(element: Element, value: string, layout: TimeLayout): Step {
  switch (element) {
    case 'year': {
      if (value.length < 4 || !isDigit(value, 0)) return { rest: value, bad: true };
      const year = goAtoi(value.slice(0, 4));
      return year === undefined ? { rest: value, bad: true } : { rest: value.slice(4), fields: { year } };
    }
    case 'month': {
      const num = getNum(value, true);
      if (num === undefined) return { rest: value, bad: true };
      if (num.n <= 0 || num.n > 12) return { rest: num.rest, range: 'month' };
      return { rest: num.rest, fields: { month: num.n } };
    }
    case 'day': {
      const num = getNum(value, true);
      return num === undefined ? { rest: value, bad: true } : { rest: num.rest, fields: { day: num.n } };
    }
    case 'hour': {
      const num = getNum(value, false);
      if (num === undefined) return { rest: value, bad: true };
      return num.n >= 24 ? { rest: num.rest, range: 'hour' } : { rest: num.rest, fields: { hour: num.n } };
    }
    case 'minute': {
      const num = getNum(value, true);
      if (num === undefined) return { rest: value, bad: true };
      return num.n >= 60 ? { rest: num.rest, range: 'minute' } : { rest: num.rest, fields: { minute: num.n } };
    }
    case 'second':
      return parseSecond(value, layout);
    case 'fraction':
      return parseFraction(value, 7);
    case 'zone':
      return parseZone(value);
  }
}

function parseSecond(value: string, layout: TimeLayout): Step {
  const num = getNum(value, true);
  if (num === undefined) return { rest: value, bad: true };
  if (num.n >= 60) return { rest: num.rest, range: 'second' };
  const rest = num.rest;
  // Go accepts fractional seconds the layout does not mention (RFC 3339 times).
  if (layout === 'seconds' && rest.length >= 2 && isSeparator(rest[0]) && isDigit(rest, 1)) {
    let digits = 2;
    while (digits < rest.length && isDigit(rest, digits)) digits++;
    const fraction = parseFraction(rest, digits);
    return { ...fraction, fields: { second: num.n, ...fraction.fields } };
  }
  return { rest, fields: { second: num.n } };
}

/** A fraction of `width` bytes including its leading separator, as Go's parseNanoseconds. */
function parseFraction(value: string, width: number): Step {
  if (value.length < width || !isSeparator(value[0])) return { rest: value, bad: true };
  const digits = goAtoi(value.slice(1, Math.min(width, 10)));
  if (digits === undefined) return { rest: value, bad: true };
  if (digits < 0) return { rest: value.slice(width), range: 'fractional second' };
  const nanos = digits * 10 ** (10 - Math.min(width, 10));
  return { rest: value.slice(width), fields: { nanos } };
}

function parseZone(value: string): Step {
  if (value.startsWith('Z')) return { rest: value.slice(1), fields: { offsetSeconds: 0 } };
  if (value.length < 6 || value[3] !== ':') return { rest: value, bad: true };
  const sign = value[0];
  const hours = getNum(value.slice(1, 3), true);
  const minutes = getNum(value.slice(4, 6), true);
  if (hours === undefined || minutes === undefined) return { rest: value, bad: true };
  if (hours.n > 24) return { rest: value.slice(6), range: 'time zone offset hour' };
  if (minutes.n > 60) return { rest: value.slice(6), range: 'time zone offset minute' };
  if (sign !== '+' && sign !== '-') return { rest: value, bad: true };
  const offset = (hours.n * 60 + minutes.n) * 60;
  return { rest: value.slice(6), fields: { offsetSeconds: sign === '-' ? -offset : offset } };
}

function getNum(value: string, fixed: boolean): { n: number; rest: string } | undefined {
  if (!isDigit(value, 0)) return undefined;
  if (!isDigit(value, 1)) {
    if (fixed) return undefined;
    return { n: Number(value[0]), rest: value.slice(1) };
  }
  return { n: Number(value.slice(0, 2)), rest: value.slice(2) };
}

/** Go's time-package atoi: an optional sign, then only digits. */
function goAtoi(text: string): number | undefined {
  const match = /^([+-]?)(\d+)$/.exec(text);
  if (match === null) return undefined;
  const n = Number(match[2]);
  return match[1] === '-' ? -n : n;
}

function isDigit(text: string, index: number): boolean {
  const char = text[index];
  return char !== undefined && char >= '0' && char <= '9';
}

function isSeparator(char: string | undefined): boolean {
  return char === '.' || char === ',';
}

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Formats an instant as the server serialises a MicroTime: UTC, six fractional digits. */
export function formatMicroTime(time: ParsedTime): string {
  return `${new Date(time.epochSecondsMs).toISOString().slice(0, 19)}.${String(time.micros).padStart(6, '0')}Z`;
}

/** A Date as a MicroTime string (the extra three digits are zeros). */
export function dateToMicroTime(date: Date): string {
  return `${date.toISOString().slice(0, 23)}000Z`;
}

/** A Date as a metav1.Time string: seconds precision, UTC. */
export function dateToSecondsTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
