import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));
const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');

describe('API reference', () => {
  it('builds from the TSDoc with no warning (typedoc.json: every export documented, every {@link} resolved)', async () => {
    // Written to a temporary directory, so the run leaves nothing in the tree.
    const out = mkdtempSync(join(tmpdir(), 'leaselocker-docs-'));
    try {
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(process.execPath, [typedoc, '--out', out, '--logLevel', 'Warn'], { cwd: root, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, output: `${stdout}${stderr}` });
        });
      });
      assert.equal(code, 0, `npm run docs failed:\n${output}`);
      assert.ok(existsSync(join(out, 'index.html')), 'typedoc wrote no index.html');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

