/**
 * The one WebAssembly kernel (compiled by `npm run build` to dist/model/kernel.wasm), with two ways through it:
 * - lanes.ts: every built-in model, two runs at a time in f64x2 lanes;
 * - fused.ts: the one-layer model without QK-norm through its regrouped score stage, a run at a time, which is
 *   faster there (its scores go through the projected embedding table, so the keys and values are never projected).
 * Both share the exponential (exp.ts, and its common path two lanes at a time with the same bits, expPair.ts) and
 * JavaScript's Math.log (imported by each as jsLog). adam.ts is the optimizer's update (src/train/adam.ts).
 */
export { kernelExp, heapBase, setDims, setParams, setGrads, pass } from './fused';
export { lanesHeapBase, lanesShape, lanesParamCount, lanesRecord, lanesRegroupsValues, lanesUsesTables, lanesPass, lanesLayout } from './lanes';
export { kernelExpPair } from './expPair';
export { adamUpdate } from './adam';
