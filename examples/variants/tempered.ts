/**
 * Keyless attention with a learned temperature: keys = t · x·W_V, where t = exp(log_temp) is one learned scalar per
 * layer, initialised to 1. QK-norm steadies keyless attention (docs/studies/mechanism.md) by fixing the scale of
 * the scores; a learned temperature lets the model set that scale without normalising. If this variant trains as
 * steadily as qkv, scale control was what the key bought; if it is as unstable as qv, it was not.
 *
 * Named in a config as `model.attention: ./variants/tempered.ts` (relative to the config file).
 */
import { defineVariant } from 'qkv-lab';

export default defineVariant({
  name: 'tempered',
  isolates: 'keyless Q–V with a learned score temperature: is scale control all the key buys?',
  params: {
    log_temp: { shape: [1, 1], init: 'zeros' }, // per run [1, 1]; exp(0) = 1 starts exactly as qv
  },
  keys: ({ tf, x, wV, params }) => {
    const [R, B, N, d] = x.shape;
    const values = tf.reshape(tf.matMul(tf.reshape(x, [R, B * N, d]), wV), [R, B, N, d]); // [R, B, N, d]: x·W_V, as qv's keys
    const temperature = tf.reshape(tf.exp(params.log_temp), [R, 1, 1, 1]); // [R, 1, 1, 1]
    return tf.mul(values, temperature); // [R, B, N, d]
  },
});
