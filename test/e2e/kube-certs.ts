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

/**
 * Issues another serving certificate for 127.0.0.1/localhost signed by the cluster's CA, for a
 * server that stands in front of kube-apiserver (a fault proxy) and that clients verify as
 * they verify the API server. Files go to `dir` with the prefix `name`.
 */
export async function issueServingCert(certs: ClusterCerts, dir: string, name: string): Promise<{ cert: string; key: string }> {
  const file = (suffix: string): string => join(dir, `${name}.${suffix}`);
  try {
    await run('openssl', [
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', file('key'), '-out', file('csr'), '-subj', `/CN=${name}`,
    ]);
    await writeFile(
      file('ext'),
      ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', ''].join('\n'),
    );
    await run('openssl', [
      'x509', '-req', '-in', file('csr'), '-CA', certs.caCertFile, '-CAkey', certs.caKeyFile,
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', VALID_DAYS,
      '-extfile', file('ext'), '-out', file('crt'),
    ]);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`issuing a serving certificate with openssl failed: ${detail}`);
  }
  const [cert, key] = await Promise.all([readFile(file('crt'), 'utf8'), readFile(file('key'), 'utf8')]);
  return { cert, key };
}
