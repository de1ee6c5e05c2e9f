// metadata.managedFields as the API server's field manager keeps them for
// create, update and patch (operation "Update"): each manager owns the fields
// it last added or changed; a change by one manager takes the field from the
// others; a removed field leaves every owner; a manager left with nothing is
// dropped; and an object that has no managedFields is not tracked by updates.
// Field sets are computed from the object as the client sent it, before the
// server drops disabled fields (spec.strategy, spec.preferredHolder).

import { isJsonObject, type JsonObject, type JsonValue } from './go-format.js';
import type { LeaseObject, LeaseSpecFields, ManagedFieldsEntry } from './lease-object.js';
import { dateToSecondsTime } from './micro-time.js';
import { LEASE_API_VERSION } from './status.js';

/** The parts of a lease whose fields are tracked (name, uid, resourceVersion... are not). */
export interface TrackedFields {
  readonly generateName?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  readonly ownerReferences?: readonly JsonObject[] | undefined;
  readonly finalizers?: readonly string[] | undefined;
  readonly spec: Readonly<LeaseSpecFields>;
}

/**
 * Field paths (JSON arrays of FieldsV1 path elements such as `"f:spec"`) and
 * their values as JSON; a map or list that is itself a member (FieldsV1 `"."`)
 * has the value "", so only its presence counts.
 */
type FieldValues = Map<string, string>;

/** managedFields of a new lease written by `manager`. */
export function managedFieldsOnCreate(request: TrackedFields, manager: string, now = new Date()): ManagedFieldsEntry[] {
  const owned = new Set(fieldValuesOf(request).keys());
  return owned.size === 0 ? [] : [entry(manager, owned, dateToSecondsTime(now))];
}

/** managedFields after `manager` replaced `live` with `request`. */
export function managedFieldsOnUpdate(live: LeaseObject, request: TrackedFields, manager: string, now = new Date()): ManagedFieldsEntry[] {
  const entries = live.metadata.managedFields ?? [];
  // The server does not start tracking an object that has no managedFields.
  if (entries.length === 0) return [];
  const before = fieldValuesOf({ ...live.metadata, spec: live.spec });
  const after = fieldValuesOf(request);
  const changed = new Set<string>();
  const removed = new Set<string>();
  for (const [path, value] of after) if (before.get(path) !== value) changed.add(path);
  for (const path of before.keys()) if (!after.has(path)) removed.add(path);

  const owners = new Map<string, { owned: Set<string>; time: string }>();
  for (const item of entries) {
    const owned = fieldsV1ToPaths(item.fieldsV1);
    for (const path of [...changed, ...removed]) owned.delete(path);
    if (owned.size > 0) owners.set(item.manager, { owned, time: item.time });
  }
  // What this write added or changed becomes the writer's, with a new time.
  if (changed.size > 0) {
    const previous = owners.get(manager)?.owned ?? new Set<string>();
    owners.set(manager, { owned: new Set([...previous, ...changed]), time: dateToSecondsTime(now) });
  }
  return [...owners]
    .map(([name, { owned, time }]) => entry(name, owned, time))
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || compareBytes(a.manager, b.manager));
}

function entry(manager: string, owned: ReadonlySet<string>, time: string): ManagedFieldsEntry {
  return { manager, operation: 'Update', apiVersion: LEASE_API_VERSION, time, fieldsType: 'FieldsV1', fieldsV1: pathsToFieldsV1(owned) };
}

function fieldValuesOf(object: TrackedFields): FieldValues {
  const values: FieldValues = new Map();
  const member = (path: readonly string[]): void => void values.set(JSON.stringify(path), '');
  const leaf = (path: readonly string[], value: unknown): void => void values.set(JSON.stringify(path), JSON.stringify(value));
  if (object.generateName) leaf(['f:metadata', 'f:generateName'], object.generateName);
  for (const key of ['labels', 'annotations'] as const) {
    const map = object[key];
    if (map === undefined || Object.keys(map).length === 0) continue;
    member(['f:metadata', `f:${key}`]);
    for (const [name, value] of Object.entries(map)) leaf(['f:metadata', `f:${key}`, `f:${name}`], value);
  }
  if (object.finalizers !== undefined && object.finalizers.length > 0) {
    member(['f:metadata', 'f:finalizers']);
    for (const finalizer of object.finalizers) member(['f:metadata', 'f:finalizers', `v:${JSON.stringify(finalizer)}`]);
  }
  if (object.ownerReferences !== undefined && object.ownerReferences.length > 0) {
    member(['f:metadata', 'f:ownerReferences']);
    // A list keyed by uid.
    for (const reference of object.ownerReferences) {
      const item = ['f:metadata', 'f:ownerReferences', `k:${JSON.stringify({ uid: reference['uid'] ?? '' })}`];
      member(item);
      for (const [field, value] of Object.entries(reference)) if (value !== null) leaf([...item, `f:${field}`], value);
    }
  }
  for (const [field, value] of Object.entries(object.spec)) if (value !== undefined) leaf(['f:spec', `f:${field}`], value);
  return values;
}

function fieldsV1ToPaths(fields: JsonValue, prefix: readonly string[] = [], into = new Set<string>()): Set<string> {
  if (!isJsonObject(fields)) return into;
  for (const [element, child] of Object.entries(fields)) {
    if (element === '.') {
      into.add(JSON.stringify(prefix));
      continue;
    }
    const path = [...prefix, element];
    if (isJsonObject(child) && Object.keys(child).length > 0) fieldsV1ToPaths(child, path, into);
    else into.add(JSON.stringify(path));
  }
  return into;
}

interface Node {
  member: boolean;
  readonly children: Map<string, Node>;
}

function pathsToFieldsV1(paths: ReadonlySet<string>): JsonObject {
  const root: Node = { member: false, children: new Map() };
  for (const path of paths) {
    let node = root;
    for (const element of JSON.parse(path) as string[]) {
      let child = node.children.get(element);
      if (child === undefined) {
        child = { member: false, children: new Map() };
        node.children.set(element, child);
      }
      node = child;
    }
    node.member = true;
  }
  return serialize(root);
}

/** FieldsV1 JSON: "." first for a member with children, then the children in path-element order. */
function serialize(node: Node): JsonObject {
  const out: JsonObject = {};
  if (node.member && node.children.size > 0) out['.'] = {};
  for (const element of [...node.children.keys()].sort(compareElements)) out[element] = serialize(node.children.get(element) as Node);
  return out;
}

const ELEMENT_KINDS = ['f:', 'k:', 'v:', 'i:'];

/** Field names first, then keys, values and indexes; byte order within a kind. */
function compareElements(a: string, b: string): number {
  return ELEMENT_KINDS.indexOf(a.slice(0, 2)) - ELEMENT_KINDS.indexOf(b.slice(0, 2)) || compareBytes(a, b);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
