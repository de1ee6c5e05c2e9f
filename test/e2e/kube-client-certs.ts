// Client certificates for a throwaway kube-apiserver: signed by the cluster's CA, which the
// server trusts for client authentication (--client-ca-file). The server sees the subject's CN
// as the user name and its O entries as groups.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { ClusterCerts } from './kube-certs.js';

const run = promisify(execFile);
const VALID_DAYS = '7';
const SUBJECT_PART = /^[a-zA-Z0-9:._-]+$/;

/**
 * Issues a client certificate and its key for user `user` in `groups`, signed by the cluster's
 * CA. Files go to `dir`; each call makes a new key, so two calls for one user give two
 * different certificates (a rotation).
 */
export async function issueClientCert(certs: ClusterCerts, dir: string, user: string, groups: readonly string[] = []): Promise<{ cert: string; key: string }> {
  for (const part of [user, ...groups]) {
    if (!SUBJECT_PART.test(part)) throw new Error(`${JSON.stringify(part)} cannot be put in a certificate subject here`);
  }
  const name = `client-${user.replaceAll(':', '_')}-${randomBytes(4).toString('hex')}`;
  const file = (suffix: string): string => join(dir, `${name}.${suffix}`);
  const subject = `/CN=${user}${groups.map((group) => `/O=${group}`).join('')}`;
  try {
    await run('openssl', [
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', file('key'), '-out', file('csr'), '-subj', subject,
    ]);
    await writeFile(file('ext'), ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth', ''].join('\n'));
    await run('openssl', [
      'x509', '-req', '-in', file('csr'), '-CA', certs.caCertFile, '-CAkey', certs.caKeyFile,
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', VALID_DAYS,
      '-extfile', file('ext'), '-out', file('crt'),
    ]);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`issuing a client certificate with openssl failed: ${detail}`);
  }
  const [cert, key] = await Promise.all([readFile(file('crt'), 'utf8'), readFile(file('key'), 'utf8')]);
  return { cert, key };
}
