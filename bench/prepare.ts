// Makes the code the worker processes run: the compiled library (`npm run build` when
// dist/ is missing or older than src/), copied so a rebuild during the run cannot change it
// under the workers, and the workers themselves transpiled to JavaScript, so that each of
// the 50+ processes starts on plain `node` instead of loading a TypeScript loader.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface PreparedCode {
  /** `file:` URL of the compiled library's entry point. */
  readonly libraryUrl: string;
  /** The path of a worker's script, by file name without extension (e.g. `contender`). */
  readonly workerScript: (name: string) => string;
  /** Removes what was written. */
  dispose(): void;
}

export function prepareCode(): PreparedCode {
  ensureLibraryBuilt();
  // Under node_modules so that the copies resolve the project's dependencies.
  const runDir = join(root, 'node_modules', '.cache', 'leaselocker-bench', `run-${process.pid}`);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  // Files under node_modules are CommonJS unless a package.json says otherwise.
  writeFileSync(join(runDir, 'package.json'), '{ "type": "module" }\n');
  // The compiled library goes where the sources sit in the repository, so that the benchmark's
  // own imports of library modules (../src/…) resolve to it in the copy as they do in the repo.
  cpSync(join(root, 'dist'), join(runDir, 'src'), { recursive: true });
  transpileBench(join(root, 'bench'), join(runDir, 'bench'));
  return {
    libraryUrl: pathToFileURL(join(runDir, 'src', 'index.js')).href,
    workerScript: (name) => join(runDir, 'bench', 'workers', `${name}.js`),
    dispose: () => rmSync(runDir, { recursive: true, force: true }),
  };
}

function ensureLibraryBuilt(): void {
  const built = join(root, 'dist', 'index.js');
  const newestSource = Math.max(...listFiles(join(root, 'src'), '.ts').map((file) => statSync(file).mtimeMs));
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource) return;
  console.log('Building the library (npm run build)...');
  const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed (${result.error?.message ?? `exit code ${String(result.status)}`})`);
}

/** Transpiles every .ts file of the benchmark, keeping the layout, so relative imports hold. */
function transpileBench(from: string, to: string): void {
  for (const file of listFiles(from, '.ts')) {
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const out = join(to, relative(from, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
}

function listFiles(dir: string, extension: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(extension) && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}
