/**
 * The one module that loads TensorFlow.js and picks its backend; everything else imports `tf` from here.
 * Order: node (native, fastest when its binary installed) → wasm (SIMD, single thread in Node) → cpu (pure JS).
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from './errors.js';

import type { BackendName, BackendChoice } from './backend-names.js';

export { tf };
export type { BackendName, BackendChoice };

const TFJS_NAME: Record<BackendName, string> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };
let chosen: BackendName | undefined;

async function tryLoad(name: BackendName): Promise<string | undefined> {
  try {
    if (name === 'node') await import('@tensorflow/tfjs-node' as string);
    if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
    const ok = await tf.setBackend(TFJS_NAME[name]);
    if (!ok) return 'it did not initialise';
    await tf.ready();
    return undefined;
  } catch (err) {
    // Any failure counts: a missing package, a package without its native binary, a wasm init error.
    return err instanceof Error ? err.message.split('\n')[0] : String(err);
  }
}

/** Picks the backend once per process; later calls return the first choice. */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<BackendName> {
  if (chosen) return chosen;
  tf.env().set('PROD', true); // silences the "install tfjs-node" banner; we report the backend ourselves
  if (choice !== 'auto') {
    const failure = await tryLoad(choice);
    if (failure) throw new UserError(`backend '${choice}' is not available here (${failure}); try --backend auto`);
    return (chosen = choice);
  }
  for (const name of ['node', 'wasm', 'cpu'] as const) {
    if (!(await tryLoad(name))) return (chosen = name);
  }
  throw new UserError('no TensorFlow.js backend could be loaded');
}

export function activeBackend(): BackendName {
  if (!chosen) throw new Error('initBackend() has not run');
  return chosen;
}
