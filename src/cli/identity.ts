import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';

// The alphabet of Kubernetes' generated name suffixes: no vowels, no look-alike characters.
const suffixAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * The identity a `run` writes as holder unless `--identity` is given: the pod name (`HOSTNAME`,
 * which Kubernetes sets to it; else the host name) plus a random suffix, so that two runs in
 * one pod, or a restarted container, never pass for one another: `nightly-28861430-x7k2p-4xq9z`.
 */
export function defaultIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['HOSTNAME'] !== undefined && env['HOSTNAME'].trim() !== '' ? env['HOSTNAME'].trim() : hostname();
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += suffixAlphabet[randomInt(suffixAlphabet.length)] ?? '';
  return `${base}-${suffix}`;
}
