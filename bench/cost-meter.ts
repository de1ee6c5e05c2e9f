// Lease API requests counted at the server, between two marks.

export const verbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] as const;
export type Verb = (typeof verbs)[number];
export type VerbCounts = Readonly<Record<Verb, number>>;

/** What the server has counted up to one instant. */
export interface CostMark {
  readonly at: number;
  /** Every lease request so far, by verb (watches when they end, on a real server). */
  readonly total: VerbCounts;
  /** By user, where the server can tell them apart (the emulator). */
  readonly byUser: ReadonlyMap<string, VerbCounts> | undefined;
  /** Requests of the server's own (e.g. its identity lease) so far, by verb, to subtract. */
  readonly background: VerbCounts;
  /** Lease watches open now. */
  readonly openWatches: number;
  /** Lease writes (create, update, patch) answered 409 Conflict so far, in the benchmark namespace. */
  readonly writeConflicts: number;
  /**
   * Lease writes in the benchmark namespace that succeeded so far, counted apart from the
   * request counters (watch events on a real server, answers on the emulator): a cross-check.
   */
  readonly succeededWrites: number;
}

export interface CostMeter {
  /** How requests are counted, for the output. */
  readonly method: string;
  mark(): Promise<CostMark>;
  dispose(): void;
}

export function emptyCounts(): Record<Verb, number> {
  return { get: 0, list: 0, watch: 0, create: 0, update: 0, patch: 0, delete: 0 };
}

export function subtract(a: VerbCounts, b: VerbCounts): VerbCounts {
  const result = emptyCounts();
  for (const verb of verbs) result[verb] = a[verb] - b[verb];
  return result;
}

export function scale(counts: VerbCounts, factor: number): VerbCounts {
  const result = emptyCounts();
  for (const verb of verbs) result[verb] = counts[verb] * factor;
  return result;
}

/** POST, PUT and PATCH: the requests that try to change a Lease (deletes are counted apart). */
export function leaseWrites(counts: VerbCounts): number {
  return counts.create + counts.update + counts.patch;
}

export function writes(counts: VerbCounts): number {
  return counts.create + counts.update + counts.patch + counts.delete;
}

export function reads(counts: VerbCounts): number {
  return counts.get + counts.list;
}

/** Everything but watches. */
export function requestsBesidesWatch(counts: VerbCounts): number {
  return writes(counts) + reads(counts);
}
