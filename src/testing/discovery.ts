// The documents of the discovery and version endpoints: what a client that
// probes the server before using it (or a readiness check) expects to read.

import { LEASE_API_VERSION, LEASE_GROUP } from './status.js';

const GROUP_VERSION = { groupVersion: LEASE_API_VERSION, version: 'v1' };

const GROUP = {
  name: LEASE_GROUP,
  versions: [GROUP_VERSION],
  preferredVersion: GROUP_VERSION,
};

/** The body of a discovery endpoint. */
export function discoveryDocument(document: 'apis' | 'group' | 'version'): unknown {
  switch (document) {
    case 'apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [GROUP] };
    case 'group':
      return { kind: 'APIGroup', apiVersion: 'v1', ...GROUP };
    case 'version':
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: LEASE_API_VERSION,
        resources: [
          {
            name: 'leases',
            singularName: 'lease',
            namespaced: true,
            kind: 'Lease',
            verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
            // Derived from the storage version (coordination.k8s.io/v1 Lease): the same on every server.
            storageVersionHash: 'gqkMMb/YqFM=',
          },
        ],
      };
  }
}

/** Go's names of Node's architectures. */
const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', ia32: '386' };

/** The body of GET /version: the release whose answers the emulator reproduces. */
export function versionInfo(): unknown {
  const arch = GO_ARCH[process.arch] ?? process.arch;
  return {
    major: '1',
    minor: '37',
    emulationMajor: '1',
    emulationMinor: '37',
    minCompatibilityMajor: '1',
    minCompatibilityMinor: '36',
    gitVersion: 'v1.37.2',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-10-27T00:00:00Z',
    goVersion: 'go1.26.8',
    compiler: 'gc',
    platform: `${process.platform}/${arch}`,
  };
}
