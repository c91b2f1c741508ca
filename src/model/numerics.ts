/**
 * The numbers the model's formulations must agree on, in one place without TensorFlow.js: the tfjs graph
 * (transformer.ts, attention.ts) imports them; the WebAssembly kernel (assembly/lanes.ts, assembly/fused.ts), compiled
 * apart, repeats them, and the equivalence tests hold the two to each other.
 */

/** Additive mask value: exp underflows to exactly 0, and it never wins a max over real scores. */
export const MASKED = -1e9;
/** LayerNorm's epsilon: PyTorch's default, as in the independent reference. */
export const LN_EPS = 1e-5;
/** QK-norm's RMSNorm epsilon, as OLMo 2's. */
export const RMS_EPS = 1e-6;
/**
 * The largest float32. The tfjs graph stores every intermediate in float32, where a value past this is infinite
 * and the loss turns NaN: that is what "diverged" means. The fused kernels work in float64, so they check the
 * quantities that overflow first (squared LayerNorm deviations, scores, class scores) against this limit.
 */
export const F32_MAX = 3.4028234663852886e38;
