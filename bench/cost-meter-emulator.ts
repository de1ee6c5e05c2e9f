// The emulator logs every request with its user: counts are exact and per identity.
import type { LeaseApiEmulator } from '../src/testing/index.js';
import type { CostMeter, Verb, VerbCounts } from './cost-meter.js';
import { emptyCounts, verbs } from './cost-meter.js';
import { now } from './protocol.js';

export function emulatorCostMeter(emulator: LeaseApiEmulator, namespace: string, users: () => readonly string[]): CostMeter {
  const count = (user?: string): VerbCounts => {
    const counts = emptyCounts();
    for (const verb of verbs) counts[verb] = emulator.countRequests({ verb: verb satisfies Verb, namespace, ...(user === undefined ? {} : { user }) });
    return counts;
  };
  return {
    method: 'counted by the emulator per request, verb and user (each role runs as its own user); watches count when they open',
    mark: () => Promise.resolve({
      at: now(),
      total: count(),
      byUser: new Map(users().map((user) => [user, count(user)])),
      background: emptyCounts(),
      openWatches: emulator.openWatches,
      writeConflicts: emulator.countRequests({ verb: ['create', 'update', 'patch'], namespace, status: 409 }),
      succeededWrites: emulator.countRequests({ verb: ['create', 'update', 'patch'], namespace, status: 200 })
        + emulator.countRequests({ verb: ['create', 'update', 'patch'], namespace, status: 201 }),
    }),
    dispose: () => undefined,
  };
}
