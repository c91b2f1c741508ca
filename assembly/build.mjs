// Compiles the WebAssembly modules (assembly/*.ts → dist/*.wasm) with AssemblyScript, skipping a module that is newer
// than every source in assembly/: `npm ci` builds them once (prepare), and `npm test`'s pretest then costs nothing
// here unless a source changed. `--force` rebuilds all.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODULES = [
  ['assembly/kernel.ts', 'dist/model/kernel.wasm'], // the kernel (lanes.ts and fused.ts)
  ['assembly/ceiling.ts', 'dist/ceiling.wasm'], // the bench's SIMD ceiling
];
const force = process.argv.includes('--force');
const sources = readdirSync(join(ROOT, 'assembly')).filter((f) => f.endsWith('.ts'));
const newestSource = Math.max(...sources.map((f) => statSync(join(ROOT, 'assembly', f)).mtimeMs));
const asc = join(ROOT, 'node_modules', '.bin', 'asc');
for (const [source, out] of MODULES) {
  const target = join(ROOT, out);
  if (!force && existsSync(target) && statSync(target).mtimeMs > newestSource) continue;
  execFileSync(asc, [source, '-O3', '--enable', 'simd', '--runtime', 'stub', '-o', out], { cwd: ROOT, stdio: 'inherit' });
}
