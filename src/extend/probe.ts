/**
 * One forward and backward pass of a config's model on the tfjs graph, on two examples of its task: a user variant
 * whose keys have the wrong shape, or whose ops break autodiff, fails here in one line, before any run is written.
 * Loaded lazily (it loads TensorFlow.js), only for configs that name a variant module.
 */
import { initBackend, tf } from '../backend.js';
import type { BackendChoice } from '../backend-names.js';
import type { Config } from '../config.js';
import { forward, crossEntropy } from '../model/transformer.js';
import { makeParams, initialValues, disposeParams, type Params } from '../model/params.js';
import { oneHotInput, oneHotTargets } from '../model/encode.js';
import { makeTask } from '../tasks/index.js';
import { Stream } from '../rng.js';
import { UserError, firstLine } from '../errors.js';

export async function probeModel(config: Config, backend: BackendChoice): Promise<void> {
  await initBackend(backend);
  try {
    withSeedZeroLoss(config, Stream.derive(0, 'probe'), 2, (loss) =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(loss);
        const finite = [value, ...Object.values(grads)].every((t) => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
        if (!finite) throw new UserError(`variant module ${config.model.attention}: the loss or a gradient is not finite at initialisation`);
      }),
    );
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`variant module ${config.model.attention}: the model fails with it: ${firstLine(err)}`);
  }
}

/**
 * Seed 0's parameters of `config` as tfjs variables, `count` examples of its task drawn from `rng`, and their summed
 * loss as a function of the variables, handed to `use`; everything is disposed afterwards. The probe and `check`'s
 * gradient check both take their model from here.
 */
export function withSeedZeroLoss<T>(config: Config, rng: Stream, count: number, use: (loss: () => tf.Scalar, params: Params) => T): T {
  const task = makeTask(config.task);
  const layout = task.layout;
  const batch = task.draw(rng, count);
  const params = makeParams(config.model, layout, [initialValues(config.model, layout, 0)]);
  const input = oneHotInput([batch], layout); // [1, count·N, V]
  const targets = oneHotTargets([batch], layout); // [1, count·S, C]
  try {
    return use(() => tf.sum(crossEntropy(forward(params, config.model, layout, input, count).logits, targets)) as tf.Scalar, params);
  } finally {
    input.dispose();
    targets.dispose();
    disposeParams(params);
  }
}
