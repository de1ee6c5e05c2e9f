// The JSON text of a patched object as the server's patch library
// (evanphx/json-patch v4) writes it, which a 422 for a patch that leaves an
// invalid object quotes. The library parses only the objects a patch reaches
// into and writes those back as Go maps (keys sorted); everything else is
// copied as it was stored (Go struct order) or as the patch sent it.

import { isJsonObject, type JsonObject, type JsonValue } from './go-format.js';
import { goJson } from './http-io.js';

/** Paths (JSON arrays of keys) of the objects a patch reached into. */
export type TouchedPaths = ReadonlySet<string>;

/** The objects a JSON merge patch reaches into: the root and every object merged into an object. */
export function mergePatchTouched(target: JsonValue, patch: JsonValue, path: readonly string[] = [], into = new Set<string>()): Set<string> {
  into.add(JSON.stringify(path));
  if (!isJsonObject(target) || !isJsonObject(patch)) return into;
  for (const [key, value] of Object.entries(patch)) {
    const current = target[key];
    if (isJsonObject(value) && isJsonObject(current)) mergePatchTouched(current, value, [...path, key], into);
  }
  return into;
}

/** The containers RFC 6902 operations walk through: every proper prefix of their paths. */
export function jsonPatchTouched(pointers: readonly string[]): Set<string> {
  const touched = new Set<string>([JSON.stringify([])]);
  for (const pointer of pointers) {
    const segments = pointer.split('/').slice(1).map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
    for (let length = 1; length < segments.length; length++) touched.add(JSON.stringify(segments.slice(0, length)));
  }
  return touched;
}

/** The patched document as text: touched objects with sorted keys, the rest in the order they came. */
export function patchedJson(value: JsonValue, touched: TouchedPaths, path: readonly string[] = []): string {
  if (Array.isArray(value)) return `[${value.map((item, index) => patchedJson(item, touched, [...path, String(index)])).join(',')}]`;
  if (!isJsonObject(value)) return goJson(value);
  const keys = Object.keys(value);
  if (touched.has(JSON.stringify(path))) keys.sort(compareBytes);
  const object: JsonObject = value;
  return `{${keys.map((key) => `${goJson(key)}:${patchedJson(object[key] ?? null, touched, [...path, key])}`).join(',')}}`;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
