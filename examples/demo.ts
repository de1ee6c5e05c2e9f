// `npm run demo`: three worker processes contend for one Lease and take turns.
// By default against the built-in emulator; `npm run demo -- --cluster` uses the cluster of
// $KUBECONFIG (namespace from $DEMO_NAMESPACE, default "default").
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startLeaseApiEmulator } from '../src/testing/index.js';

const useCluster = process.argv.includes('--cluster');
const workers = 3;
const rounds = 3;
const dir = mkdtempSync(join(tmpdir(), 'leaselocker-demo-'));
const journal = join(dir, 'journal.log');
const emulator = useCluster ? undefined : await startLeaseApiEmulator();
const started = Date.now();
const stamp = (at: number): string => `+${((at - started) / 1000).toFixed(3)}s`;

console.log(useCluster ? 'Against the cluster in KUBECONFIG.' : `Against the built-in Lease API emulator at ${emulator?.url ?? ''}.`);
console.log(`${workers} workers, ${rounds} turns each, one Lease.\n`);

const exits = Array.from({ length: workers }, (_, i) => {
  const id = `worker-${i + 1}`;
  const child = fork(new URL('./demo-worker.ts', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: {
      ...process.env,
      DEMO_ID: id,
      DEMO_JOURNAL: journal,
      DEMO_ROUNDS: String(rounds),
      ...(emulator === undefined ? {} : { DEMO_KUBECONFIG: emulator.kubeConfig().exportConfig() }),
    },
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as { worker: string; event: string; at: number; round?: number; token?: number; reason?: string };
    const detail = event.event === 'acquired' ? `holds the lock (fencing token ${String(event.token)})` : event.event === 'lost' ? `LOST the lock (${event.reason ?? ''})` : event.event;
    console.log(`${stamp(event.at)}  ${event.worker.padEnd(9)} ${detail}`);
  });
  return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
});

const codes = await Promise.all(exits);
await emulator?.close();

// The journal is the ground truth: appends are atomic, so its order is the order of events.
const lines = readFileSync(journal, 'utf8').trim().split('\n');
rmSync(dir, { recursive: true, force: true });
let inside: string | undefined;
let lastToken = -1;
let overlaps = 0;
for (const line of lines) {
  const [kind, worker, token] = line.split(' ');
  if (kind === 'enter') {
    if (inside !== undefined) overlaps += 1;
    inside = worker;
    if (Number(token) <= lastToken) overlaps += 1;
    lastToken = Number(token);
  } else {
    inside = undefined;
  }
}
const sections = lines.length / 2;
if (codes.some((code) => code !== 0) || overlaps > 0 || sections !== workers * rounds) {
  console.error(`\nFAILED: exit codes ${codes.join(',')}, ${overlaps} overlaps, ${sections} critical sections.`);
  process.exitCode = 1;
} else {
  console.log(`\nOK: ${sections} critical sections in turn, never two holders at once; fencing tokens strictly increased.`);
}
