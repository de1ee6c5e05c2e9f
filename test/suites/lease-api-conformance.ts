// The Lease API conformance suite: what a kube-apiserver answers over HTTP for
// leases, asserted at the HTTP level. Written once as a function of a server
// factory and run against a real kube-apiserver (test:e2e) and the emulator
// (npm test): where the two differ, the emulator is wrong.

import { after, before, describe } from 'node:test';

import { accessControl } from './conformance/access-control.js';
import { bodyDecoding } from './conformance/body-decoding.js';
import { clientNodeAnswers } from './conformance/client-node-answers.js';
import { Conformance, type ConformanceServer } from './conformance/context.js';
import { errorAnswers } from './conformance/error-answers.js';
import { listAnswers } from './conformance/list-answers.js';
import { objectShape } from './conformance/object-shape.js';
import { patchAnswers } from './conformance/patch-answers.js';
import { serverEndpoints } from './conformance/server-endpoints.js';
import { watchStreams } from './conformance/watch-streams.js';

export type { ConformanceServer, LimitedUser } from './conformance/context.js';

/** Registers the suite under `title`; `start` gives a fresh server, closed after the suite. */
export function leaseApiConformanceSuite(title: string, start: () => Promise<ConformanceServer>): void {
  describe(title, () => {
    let conformance: Conformance | undefined;
    const suite = (): Conformance => {
      if (conformance === undefined) throw new Error('the server did not start');
      return conformance;
    };

    before(async () => {
      conformance = new Conformance(await start());
    });
    after(async () => {
      await conformance?.server.close();
    });

    describe('server endpoints', () => serverEndpoints(suite));
    describe('refusals', () => errorAnswers(suite));
    describe('request bodies', () => bodyDecoding(suite));
    describe('stored objects', () => objectShape(suite));
    describe('lists', () => listAnswers(suite));
    describe('watches', () => watchStreams(suite));
    describe('authentication and authorization', () => accessControl(suite));
    describe('patches', () => patchAnswers(suite));
    describe('through @kubernetes/client-node', () => clientNodeAnswers(suite));
  });
}
