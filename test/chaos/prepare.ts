// Makes what the chaos workers run: the library as built (`npm run build` when dist/ is
// missing or older than src/), snapshotted into a package named leaselocker so a rebuild
// during the run cannot change it under the workers, and the workers transpiled to plain
// JavaScript next to it, so `import 'leaselocker'` in a worker resolves to the snapshot.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chaosDir = fileURLToPath(new URL('.', import.meta.url));

export interface PreparedWorker {
  /** Path of the transpiled worker script. */
  readonly script: string;
  dispose(): void;
}

/**
 * `CHAOS_DIST` names another build of the library to run (for example one of an earlier
 * commit, to see what the suite finds in it); by default dist/, built first when stale.
 */
export function prepareWorker(): PreparedWorker {
  const distDir = process.env['CHAOS_DIST'] ?? join(root, 'dist');
  if (process.env['CHAOS_DIST'] === undefined) ensureLibraryBuilt();
  // Under node_modules, so that the snapshot resolves the project's dependencies.
  const runDir = join(root, 'node_modules', '.cache', 'leaselocker-chaos', `run-${String(process.pid)}`);
  rmSync(runDir, { recursive: true, force: true });
  const packageDir = join(runDir, 'node_modules', 'leaselocker');
  mkdirSync(packageDir, { recursive: true });
  writeFileSync(join(runDir, 'package.json'), '{ "type": "module" }\n');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const { name, version, type, exports } = manifest;
  writeFileSync(join(packageDir, 'package.json'), JSON.stringify({ name, version, type, exports }, null, 2));
  cpSync(distDir, join(packageDir, 'dist'), { recursive: true });
  const outDir = join(runDir, 'chaos');
  mkdirSync(outDir);
  for (const file of ['worker', 'protocol', 'prng']) {
    const source = readFileSync(join(chaosDir, `${file}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: `${file}.ts`,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    writeFileSync(join(outDir, `${file}.js`), outputText);
  }
  return {
    script: join(outDir, 'worker.js'),
    dispose: () => rmSync(runDir, { recursive: true, force: true }),
  };
}

function ensureLibraryBuilt(): void {
  const built = join(root, 'dist', 'index.js');
  const sources = readdirSync(join(root, 'src'), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => statSync(join(entry.parentPath, entry.name)).mtimeMs);
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources)) return;
  const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    throw new Error(`npm run build failed (${result.error?.message ?? `exit code ${String(result.status)}`})`);
  }
}
