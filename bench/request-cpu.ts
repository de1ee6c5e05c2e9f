// Client CPU per Lease request: process.cpuUsage() over sequential PUTs (LeaseLock.update, the
// request a held lock repeats) against a server in another process, so that only the client's
// CPU is counted.
//
//   node --import tsx bench/request-cpu.ts [--kubeconfig FILE] [--requests 400] [--module PATH]
//
// Without --kubeconfig, an emulator is started in a child process. --module names another build
// of the library to measure (a module exporting LeaseLock), e.g. an earlier version's src/index.ts.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import type { LockRecord } from '../src/index.js';

interface LeaseLockLike {
  create(record: LockRecord): Promise<unknown>;
  update(record: LockRecord, base: never): Promise<unknown>;
}
type LeaseLockClass = new (client: KubeConfig, lease: { namespace: string; name: string }, identity: string, options?: { requestTimeoutMs?: number }) => LeaseLockLike;

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    requests: { type: 'string', default: '400' },
    module: { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    'serve-emulator': { type: 'boolean', default: false },
  },
});

if (values['serve-emulator']) {
  // The child: an emulator, its kubeconfig on the first line; it lives until stdin closes.
  const { startLeaseApiEmulator } = await import('../src/testing/index.js');
  const emulator = await startLeaseApiEmulator({ namespaces: [values.namespace] });
  process.stdout.write(`${JSON.stringify(emulator.kubeConfig().exportConfig())}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void emulator.close());
} else {
  await measure();
}

async function measure(): Promise<void> {
  const requests = Number(values.requests);
  const { LeaseLock } = (await import(values.module === undefined ? '../src/index.js' : pathToFileURL(values.module).href)) as { LeaseLock: LeaseLockClass };
  let stopEmulator: (() => void) | undefined;
  let exported: string;
  if (values.kubeconfig === undefined) {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve-emulator', '--namespace', values.namespace], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    exported = JSON.parse(await new Promise<string>((resolve) => lines.once('line', resolve))) as string;
    stopEmulator = () => child.stdin.end();
  } else {
    exported = await readFile(values.kubeconfig, 'utf8');
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(exported);
  const lock = new LeaseLock(kubeConfig, { namespace: values.namespace, name: `cpu-${String(process.pid)}-${String(Date.now())}` }, 'bench', { requestTimeoutMs: 10_000 });
  const record = (): LockRecord => ({ holderIdentity: 'bench', leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date(), leaseTransitions: 0 });
  let base = await lock.create(record());
  // Warm up: connections, JIT.
  for (let i = 0; i < 20; i++) base = await lock.update(record(), base as never);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < requests; i++) base = await lock.update(record(), base as never);
  const used = process.cpuUsage(cpu);
  const wallMs = performance.now() - started;
  stopEmulator?.();
  const perRequest = (micros: number): string => (micros / requests).toFixed(0);
  console.log(JSON.stringify({
    node: process.version,
    requests,
    cpuUserMicrosPerRequest: Number(perRequest(used.user)),
    cpuSystemMicrosPerRequest: Number(perRequest(used.system)),
    cpuMicrosPerRequest: Number(perRequest(used.user + used.system)),
    wallMsPerRequest: Number((wallMs / requests).toFixed(2)),
  }));
}
