// Generates, with the openssl CLI, the key material a throwaway kube-apiserver
// needs: a CA, a serving certificate for 127.0.0.1/localhost signed by it (so
// clients verify TLS for real instead of skipping verification), and the
// service-account token signing key pair.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClusterCerts {
  readonly caCertFile: string;
  readonly caCertPem: string;
  readonly caKeyFile: string; // signs further serving certificates (issueServingCert)
  readonly servingCertFile: string;
  readonly servingKeyFile: string;
  readonly serviceAccountKeyFile: string; // private key: signs tokens
  readonly serviceAccountPublicKeyFile: string; // verifies tokens
}

// Short-lived on purpose: nothing outlives a test run.
const VALID_DAYS = '7';

export async function generateClusterCerts(dir: string): Promise<ClusterCerts> {
  const file = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await Promise.all([
      run('openssl', [
        'req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'),
        '-days', VALID_DAYS, '-subj', '/CN=leaselocker-e2e-ca',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ]),
      run('openssl', [
        'req', ...ec, '-keyout', file('apiserver.key'), '-out', file('apiserver.csr'),
        '-subj', '/CN=kube-apiserver',
      ]),
      run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file('sa.key')]),
      writeFile(
        file('apiserver.ext'),
        [
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
          'keyUsage=critical,digitalSignature,keyEncipherment',
          'extendedKeyUsage=serverAuth',
          '',
        ].join('\n'),
      ),
    ]);
    await Promise.all([
      run('openssl', [
        'x509', '-req', '-in', file('apiserver.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
        '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', VALID_DAYS,
        '-extfile', file('apiserver.ext'), '-out', file('apiserver.crt'),
      ]),
      run('openssl', ['pkey', '-in', file('sa.key'), '-pubout', '-out', file('sa.pub')]),
    ]);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`generating certificates with openssl failed (is openssl on PATH?): ${detail}`);
  }
  return {
    caCertFile: file('ca.crt'),
    caCertPem: await readFile(file('ca.crt'), 'utf8'),
    caKeyFile: file('ca.key'),
    servingCertFile: file('apiserver.crt'),
    servingKeyFile: file('apiserver.key'),
    serviceAccountKeyFile: file('sa.key'),
    serviceAccountPublicKeyFile: file('sa.pub'),
  };
}

/** What a certificate signed by the cluster's CA is for. */
type CertUse =
  /** A server that stands in front of kube-apiserver (a fault proxy), verified as clients verify the API server. */
  | { readonly kind: 'serving' }
  /** A client the server authenticates: CN is the user name, each O a group. */
  | { readonly kind: 'client'; readonly user: string; readonly groups: readonly string[] };

const SUBJECT_PART = /^[a-zA-Z0-9:._-]+$/;

/**
 * Issues a certificate and its key signed by the cluster's CA: a serving certificate for
 * 127.0.0.1/localhost, or a client certificate. Files go to `dir` with the prefix `name`; each
 * call makes a new key, so two calls give two different certificates (a rotation).
 */
export async function issueCert(certs: ClusterCerts, dir: string, name: string, use: CertUse): Promise<{ cert: string; key: string }> {
  const parts = use.kind === 'client' ? [use.user, ...use.groups] : [];
  for (const part of parts) {
    if (!SUBJECT_PART.test(part)) throw new Error(`${JSON.stringify(part)} cannot be put in a certificate subject here`);
  }
  const subject = use.kind === 'client' ? `/CN=${use.user}${use.groups.map((group) => `/O=${group}`).join('')}` : `/CN=${name}`;
  const extensions = use.kind === 'client'
    ? ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']
    : ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth'];
  const file = (suffix: string): string => join(dir, `${name}.${suffix}`);
  try {
    await run('openssl', [
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', file('key'), '-out', file('csr'), '-subj', subject,
    ]);
    await writeFile(file('ext'), [...extensions, ''].join('\n'));
    await run('openssl', [
      'x509', '-req', '-in', file('csr'), '-CA', certs.caCertFile, '-CAkey', certs.caKeyFile,
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', VALID_DAYS,
      '-extfile', file('ext'), '-out', file('crt'),
    ]);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`issuing a ${use.kind} certificate with openssl failed: ${detail}`);
  }
  const [cert, key] = await Promise.all([readFile(file('crt'), 'utf8'), readFile(file('key'), 'utf8')]);
  return { cert, key };
}
