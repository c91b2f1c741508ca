import { resolve } from 'node:path';
import type { BackendChoice } from '../backend-names.js';

/** Checks a user's variant or task module (src/extend/check.ts); any failure is one line and exit 2. */
export async function checkCommand(args: { module: string; backend: BackendChoice }): Promise<void> {
  const { checkModule } = await import('../extend/check.js'); // loads TensorFlow.js
  const report = await checkModule(resolve(args.module), args.backend);
  for (const line of report.lines) process.stdout.write(`${line}\n`);
  process.stdout.write('check: ok\n');
}
