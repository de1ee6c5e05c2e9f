// The three patch formats a Lease accepts, with the error wording of the
// libraries the API server uses (evanphx/json-patch v4 for RFC 6902).
//
// A Lease has no list with a merge key in its spec, so a strategic merge patch
// behaves as a JSON merge patch apart from the `$patch` directive.

import { isJsonObject, type JsonObject, type JsonValue } from './go-format.js';

/** A patch whose operations cannot be applied: the server answers 422 (without this message). */
export class PatchApplyError extends Error {}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return structuredClone(patch);
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

/** Strategic merge patch of a Lease: a merge patch that also honours `$patch: replace|delete`. */
export function strategicMergePatch(target: JsonValue, patch: JsonValue): JsonValue | undefined {
  if (!isJsonObject(patch)) return structuredClone(patch);
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  const rest: JsonObject = {};
  for (const [key, value] of Object.entries(patch)) if (!key.startsWith('$')) rest[key] = value;
  if (directive === 'replace') return structuredClone(rest);
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(rest)) {
    if (value === null) {
      delete result[key];
      continue;
    }
    const merged = strategicMergePatch(result[key] ?? null, value);
    if (merged === undefined) delete result[key];
    else result[key] = merged;
  }
  return result;
}

/** One RFC 6902 operation as decoded from the patch body. */
export interface JsonPatchOperation {
  readonly op: string;
  readonly path: string;
  readonly from?: string;
  readonly value?: JsonValue;
  readonly hasValue: boolean;
}

type Container = JsonObject | JsonValue[];

/** Applies RFC 6902 operations to a copy of `document`. */
export function applyJsonPatch(document: JsonValue, operations: readonly JsonPatchOperation[]): JsonValue {
  const root: { doc: JsonValue } = { doc: structuredClone(document) };
  for (const operation of operations) applyOperation(root, operation);
  return root.doc;
}

function applyOperation(root: { doc: JsonValue }, operation: JsonPatchOperation): void {
  const { op, path } = operation;
  switch (op) {
    case 'add':
      add(root, path, operation.value ?? null, 'add');
      return;
    case 'remove':
      remove(root, path, 'remove');
      return;
    case 'replace': {
      const { container, key } = locate(root.doc, path, 'replace', 'path');
      // json-patch v4 checks the key of an array only: replacing a missing object key adds it.
      if (Array.isArray(container) && get(container, key) === undefined) {
        throw new PatchApplyError(`replace operation does not apply: doc is missing key: ${path}: missing value`);
      }
      set(container, key, operation.value ?? null, 'replace', path);
      return;
    }
    case 'move': {
      const from = operation.from ?? '';
      const value = remove(root, from, 'move');
      add(root, path, value, 'move');
      return;
    }
    case 'copy': {
      const from = operation.from ?? '';
      const { container, key } = locate(root.doc, from, 'copy', 'from');
      const value = get(container, key);
      if (value === undefined) throw new PatchApplyError(`copy operation does not apply: doc is missing from path: ${from}: missing value`);
      add(root, path, structuredClone(value), 'copy');
      return;
    }
    case 'test':
      test(root.doc, operation);
      return;
    default:
      throw new PatchApplyError(`Unexpected kind: ${op}`);
  }
}

function test(doc: JsonValue, operation: JsonPatchOperation): void {
  const { path } = operation;
  if (path === '') {
    if (deepEqual(doc, operation.value ?? null)) return;
    throw new PatchApplyError(`testing value ${path} failed: test failed`);
  }
  const { container, key } = locate(doc, path, 'test', 'path', 'test operation does not apply: is missing path');
  // json-patch v4 treats a JSON null like a missing value on both sides.
  const actual = get(container, key) ?? undefined;
  const expected = operation.hasValue ? (operation.value ?? undefined) : undefined;
  if (actual === undefined && expected === undefined) return;
  if (actual !== undefined && expected !== undefined && deepEqual(actual, expected)) return;
  throw new PatchApplyError(`testing value ${path} failed: test failed`);
}

function add(root: { doc: JsonValue }, path: string, value: JsonValue, op: string): void {
  if (path === '') {
    root.doc = value;
    return;
  }
  const { container, key } = locate(root.doc, path, op, 'path');
  if (Array.isArray(container)) {
    const index = key === '-' ? container.length : arrayIndex(key, container.length + 1, op, path);
    container.splice(index, 0, value);
  } else {
    container[key] = value;
  }
}

function remove(root: { doc: JsonValue }, path: string, op: string): JsonValue {
  const { container, key } = locate(root.doc, path, op, 'path');
  if (Array.isArray(container)) {
    const index = arrayIndex(key, container.length, op, path);
    return container.splice(index, 1)[0] ?? null;
  }
  const value = container[key];
  if (value === undefined) {
    throw new PatchApplyError(`error in ${op} for path: '${path}': Unable to remove nonexistent key: ${key}: missing value`);
  }
  delete container[key];
  return value;
}

function set(container: Container, key: string, value: JsonValue, op: string, path: string): void {
  if (Array.isArray(container)) container[arrayIndex(key, container.length, op, path)] = value;
  else container[key] = value;
}

function get(container: Container, key: string): JsonValue | undefined {
  if (Array.isArray(container)) {
    if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
    return container[Number(key)];
  }
  return Object.hasOwn(container, key) ? container[key] : undefined;
}

function arrayIndex(key: string, limit: number, op: string, path: string): number {
  const index = /^-?\d+$/.test(key) ? Number(key) : Number.NaN;
  if (!Number.isInteger(index) || index < 0 || index >= limit) {
    throw new PatchApplyError(`error in ${op} for path: '${path}': Unable to access invalid index: ${key}: invalid index referenced`);
  }
  return index;
}

/** Finds the container holding the last segment of a JSON pointer. */
function locate(
  doc: JsonValue,
  path: string,
  op: string,
  which: 'path' | 'from',
  missing = `${op} operation does not apply: doc is missing ${which}: "${path}"`,
): { container: Container; key: string } {
  const segments = path.split('/').map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
  const fail = (): never => {
    throw new PatchApplyError(`${missing}: missing value`);
  };
  if (segments.length < 2 || segments[0] !== '') return fail();
  let current: JsonValue | undefined = doc;
  for (const segment of segments.slice(1, -1)) {
    if (Array.isArray(current)) current = get(current, segment);
    else if (isJsonObject(current)) current = Object.hasOwn(current, segment) ? current[segment] : undefined;
    else current = undefined;
    if (current === undefined || current === null) return fail();
  }
  if (!Array.isArray(current) && !isJsonObject(current)) return fail();
  return { container: current, key: segments[segments.length - 1] ?? '' };
}

function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i] ?? null));
  if (isJsonObject(a) && isJsonObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key] ?? null, b[key] ?? null));
  }
  return false;
}
