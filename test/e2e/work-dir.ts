// The per-cluster temp directory (certificates, token file, etcd data, logs).
// Removed on stop and by the exit hooks; only a SIGKILLed test process leaves
// one behind, so each new directory records its owner's pid and later runs
// delete directories whose owner is gone.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'leaselocker-e2e-';
const OWNER_FILE = 'owner.pid';

export async function createWorkDir(): Promise<string> {
  await removeOrphanedWorkDirs();
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  await writeFile(join(dir, OWNER_FILE), `${String(process.pid)}\n`);
  return dir;
}

async function removeOrphanedWorkDirs(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => []);
  await Promise.all(
    entries
      .filter((name) => name.startsWith(PREFIX))
      .map(async (name) => {
        const dir = join(tmpdir(), name);
        const owner = Number.parseInt(await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => ''), 10);
        if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
          await rm(dir, { recursive: true, force: true }).catch(() => {});
        }
      }),
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by someone else
  }
}
