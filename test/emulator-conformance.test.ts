// The Lease API conformance suite against the built-in emulator (the same suite
// runs against a real kube-apiserver in test/e2e/conformance.test.ts).
//
// The emulator is configured as the e2e kube-apiserver runs: anonymous requests
// allowed (the kube-apiserver default), users confined to the namespace their
// Role is in, and bookmarks about once a minute as the watch cache sends them.

import { startLeaseApiEmulator, type LeaseVerb } from '../src/testing/index.js';
import { leaseApiConformanceSuite } from './suites/lease-api-conformance.js';

const NAMESPACE = 'leaselocker-conformance';

let users = 0;

leaseApiConformanceSuite('Lease API conformance: emulator', async () => {
  const emulator = await startLeaseApiEmulator({
    namespaces: ['default', NAMESPACE],
    anonymousAuth: true,
    bookmarkIntervalMs: 60_000,
  });
  return {
    name: 'emulator',
    url: emulator.url,
    ca: undefined,
    adminToken: emulator.token(),
    kubeConfig: () => emulator.kubeConfig(),
    namespace: NAMESPACE,
    userWith: (verbs) => {
      users += 1;
      const name = `conformance-${users}`;
      emulator.addUser(name, { verbs: verbs as LeaseVerb[], namespaces: [NAMESPACE] });
      return Promise.resolve({ name, token: emulator.token(name) });
    },
    forgetWatchHistory: () => {
      emulator.compact();
      return Promise.resolve();
    },
    close: () => emulator.close(),
  };
});
