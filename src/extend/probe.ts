/**
 * One forward and backward pass of a config's model on the tfjs graph, on two examples of its task: a user variant
 * whose keys have the wrong shape, or whose ops break autodiff, fails here in one line, before any run is written.
 * Loaded lazily (it loads TensorFlow.js), only for configs that name a variant module.
 */
import { initBackend, tf } from '../backend.js';
import type { BackendChoice } from '../backend-names.js';
import type { Config } from '../config.js';
import { forward, crossEntropy } from '../model/transformer.js';
import { makeParams, initialValues, disposeParams } from '../model/params.js';
import { oneHotInput, oneHotTargets } from '../model/encode.js';
import { makeTask } from '../tasks/index.js';
import { Stream } from '../rng.js';
import { UserError } from '../errors.js';

export async function probeModel(config: Config, backend: BackendChoice): Promise<void> {
  await initBackend(backend);
  const task = makeTask(config.task);
  const batch = task.draw(Stream.derive(0, 'probe'), 2);
  const params = makeParams(config.model, task.layout, [initialValues(config.model, task.layout, 0)]);
  try {
    tf.tidy(() => {
      const input = oneHotInput([batch], task.layout); // [1, 2·N, V]
      const targets = oneHotTargets([batch], task.layout); // [1, 2·S, C]
      const { value, grads } = tf.variableGrads(
        () => tf.sum(crossEntropy(forward(params, config.model, task.layout, input, 2).logits, targets)) as tf.Scalar,
      );
      const finite = [value, ...Object.values(grads)].every((t) => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
      if (!finite) throw new UserError(`variant module ${config.model.attention}: the loss or a gradient is not finite at initialisation`);
    });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(
      `variant module ${config.model.attention}: the model fails with it: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`,
    );
  } finally {
    disposeParams(params);
  }
}
