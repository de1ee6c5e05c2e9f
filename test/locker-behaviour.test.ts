// The shared behaviour suite against the built-in emulator (the same suite runs against a
// real kube-apiserver in test/e2e/locker.test.ts).
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseVerb } from '../src/testing/index.js';
import { lockerBehaviourSuite } from './suites/locker-behaviour.js';

let users = 0;

lockerBehaviourSuite('LeaseLocker against the emulator', async () => {
  const emulator = await startLeaseApiEmulator();
  return {
    name: 'emulator',
    namespace: 'default',
    kubeConfig: () => emulator.kubeConfig(),
    userWith: async (verbs) => {
      users += 1;
      return Promise.resolve(emulator.addUser(`locker-${users}`, { verbs: verbs as LeaseVerb[] }));
    },
    close: () => emulator.close(),
  };
});
