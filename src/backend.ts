/**
 * The one module that loads TensorFlow.js and picks its backend; everything else imports `tf` from here.
 * Order: node (native, fastest when its binary installed) → wasm (SIMD, single thread in Node) → cpu (pure JS).
 */
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs';
import { UserError, firstLine } from './errors.js';

import type { BackendName, BackendChoice } from './backend-names.js';

export type { BackendName, BackendChoice };

// TensorFlow.js ships CommonJS. Loaded through require() it takes ~100 ms; through an ES import ~250 ms, spent
// scanning its bundle for export names, in every sweep worker and every command that trains.
const require = createRequire(import.meta.url);
export const tf: typeof TF = require('@tensorflow/tfjs');

/** The tensor types, under the same name as the value, so `tf.Tensor` reads the same in type positions. */
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace tf {
  export type Tensor<R extends TF.Rank = TF.Rank> = TF.Tensor<R>;
  export type Variable<R extends TF.Rank = TF.Rank> = TF.Variable<R>;
  export type Scalar = TF.Scalar;
  export type Rank = TF.Rank;
  export type TensorContainer = TF.TensorContainer;
}

const TFJS_NAME: Record<BackendName, string> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };
let chosen: BackendName | undefined;

async function tryLoad(name: BackendName): Promise<string | undefined> {
  try {
    if (name === 'node') require('@tensorflow/tfjs-node');
    if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    const ok = await tf.setBackend(TFJS_NAME[name]);
    if (!ok) return 'it did not initialise';
    await tf.ready();
    return undefined;
  } catch (err) {
    // Any failure counts: a missing package, a package without its native binary, a wasm init error.
    return firstLine(err);
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
