// Field and label selectors of list and watch requests. Leases support the
// field selectors every namespaced object has: metadata.name and
// metadata.namespace.

import type { LeaseObject } from './lease-object.js';

/** A parsed selector: a predicate over leases. */
export type LeaseMatcher = (lease: LeaseObject) => boolean;

/** A selector the server cannot read, with the message of its 400. */
export class SelectorError extends Error {}

const SUPPORTED_FIELDS = ['metadata.name', 'metadata.namespace'];

interface FieldTerm {
  readonly field: string;
  readonly equals: boolean;
  readonly value: string;
}

/** Parses a fieldSelector; `name` is set when it pins exactly one lease name. */
export function parseFieldSelector(text: string): { matcher: LeaseMatcher; name?: string } {
  const terms: FieldTerm[] = [];
  for (const part of splitUnescaped(text, ',')) {
    if (part === '') continue;
    const term = parseFieldTerm(part, text);
    if (!SUPPORTED_FIELDS.includes(term.field)) {
      throw new SelectorError(
        `${JSON.stringify(term.field)} is not a known field selector: only "metadata.name", "metadata.namespace"`,
      );
    }
    terms.push(term);
  }
  const matcher: LeaseMatcher = (lease) =>
    terms.every((term) => {
      const actual = term.field === 'metadata.name' ? lease.metadata.name : lease.metadata.namespace;
      return (actual === term.value) === term.equals;
    });
  const exact = terms.filter((term) => term.field === 'metadata.name' && term.equals);
  const name = exact.length === 1 ? exact[0]?.value : undefined;
  return name === undefined ? { matcher } : { matcher, name };
}

function parseFieldTerm(part: string, whole: string): FieldTerm {
  for (const [operator, equals] of [['!=', false], ['==', true], ['=', true]] as const) {
    const at = indexOfUnescaped(part, operator);
    if (at >= 0) {
      return {
        field: unescape(part.slice(0, at)).trim(),
        equals,
        value: unescape(part.slice(at + operator.length)),
      };
    }
  }
  throw new SelectorError(`invalid selector: '${whole}'; can't understand '${part}'`);
}

function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? '';
    if (char === '\\' && i + 1 < text.length) {
      current += char + (text[i + 1] ?? '');
      i++;
    } else if (char === separator) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

function indexOfUnescaped(text: string, operator: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      i++;
      continue;
    }
    if (text.startsWith(operator, i)) return i;
  }
  return -1;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

/** Parses a labelSelector (equality, inequality, set and existence requirements). */
export function parseLabelSelector(text: string): LeaseMatcher {
  const requirements = splitOutsideParentheses(text)
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseRequirement);
  return (lease) => requirements.every((requirement) => requirement(lease.metadata.labels ?? {}));
}

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

const KEY = String.raw`([A-Za-z0-9][-A-Za-z0-9_./]*)`;
const VALUE = String.raw`([-A-Za-z0-9_.]*)`;

function parseRequirement(part: string): Requirement {
  let match = new RegExp(`^!\\s*${KEY}$`).exec(part);
  if (match) {
    const key = match[1] ?? '';
    return (labels) => !(key in labels);
  }
  match = new RegExp(`^${KEY}$`).exec(part);
  if (match) {
    const key = match[1] ?? '';
    return (labels) => key in labels;
  }
  match = new RegExp(`^${KEY}\\s*(==|=|!=)\\s*${VALUE}$`).exec(part);
  if (match) {
    const [, key = '', operator, value = ''] = match;
    return operator === '!=' ? (labels) => labels[key] !== value : (labels) => labels[key] === value;
  }
  match = new RegExp(`^${KEY}\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(part);
  if (match) {
    const [, key = '', operator, list = ''] = match;
    const values = new Set(list.split(',').map((value) => value.trim()));
    return operator === 'in'
      ? (labels) => labels[key] !== undefined && values.has(labels[key])
      : (labels) => labels[key] === undefined || !values.has(labels[key]);
  }
  match = new RegExp(`^${KEY}\\s*(<|>)\\s*(-?\\d+)$`).exec(part);
  if (match) {
    const [, key = '', operator, bound = '0'] = match;
    return (labels) => {
      const actual = labels[key];
      if (actual === undefined || !/^-?\d+$/.test(actual)) return false;
      return operator === '<' ? Number(actual) < Number(bound) : Number(actual) > Number(bound);
    };
  }
  throw new SelectorError(`unable to parse requirement: ${part}`);
}

function splitOutsideParentheses(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}
