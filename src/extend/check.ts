/**
 * `qkv-lab check <module>`: the kit's own test rigour for a user's variant or task. It loads the module, runs
 * its model on the tfjs graph in full and causal attention with several layers and heads, compares autodiff's
 * gradients with central finite differences, trains three steps twice to see that the same seed gives the same
 * bits, and counts the parameters. A task's examples are drawn, checked against its layout and drawn again.
 * Every failure is a UserError naming the module (exit 2). Loaded lazily: it loads TensorFlow.js.
 */
import { initBackend, tf } from '../backend.js';
import type { BackendChoice } from '../backend-names.js';
import { resolveConfig, type Config } from '../config.js';
import { initialValues, paramSpecs } from '../model/params.js';
import { TfjsEngine } from '../train/tfjsEngine.js';
import { makeTask } from '../tasks/index.js';
import type { Encoded } from '../tasks/types.js';
import { Stream } from '../rng.js';
import { UserError } from '../errors.js';
import { importModule, loadConfigModules, type LoadedModule } from './load.js';
import { withSeedZeroLoss } from './probe.js';
import type { VariantDefinition } from '../model/variants.js';
import type { TaskDefinition } from '../tasks/user.js';

/** Finite differences in float32: a step large enough that rounding in the loss stays far below the slope it measures. */
const FD_STEP = 1e-2;
/** Autodiff and central differences agree within this much, absolutely plus relatively (float32, curvature over ±FD_STEP). */
const FD_ABS = 2e-3;
const FD_REL = 5e-2;
/** Coordinates checked per parameter: enough to catch a wrong or missing gradient, few enough to take a second. */
const FD_COORDS = 4;
const DRAWN = 512;

export interface CheckReport {
  lines: string[];
}

/** The models a variant is run in: full attention in one layer (lookup), causal attention in two layers with two heads (MQAR). */
function variantConfigs(path: string): Config[] {
  return [
    resolveConfig({ model: { attention: path, dModel: 8 }, task: { kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 8 } }),
    resolveConfig({
      model: { attention: path, dModel: 8, heads: 2, layers: 2 },
      task: { kind: 'mqar', pairs: 4, queries: 2, keyVocab: 8, valueVocab: 8 },
    }),
  ];
}

export async function checkModule(path: string, backend: BackendChoice): Promise<CheckReport> {
  await initBackend(backend);
  const loaded = await importModule(path, 'either', 'check');
  const lines = loaded.definition.qkvLab === 'variant' ? await checkVariant(loaded) : await checkTask(loaded);
  return { lines };
}

async function checkVariant(m: LoadedModule): Promise<string[]> {
  const d = m.definition as VariantDefinition;
  const lines = [`variant ${d.name} (${m.path}): ${d.isolates}`];
  const configs: Config[] = [];
  for (const c of variantConfigs(m.path)) configs.push(await loadConfigModules(c, { probe: true }));
  lines.push('  shapes: keys (and values) are [R, B, N, d] in full attention (1 layer) and causal attention (2 layers, 2 heads)');
  const [one, deep] = configs;
  lines.push(gradientLine(deep, (p) => p.startsWith('layer') && p.includes('/attn/'), m.path));
  lines.push(determinismLine(deep, m.path));
  const specs = paramSpecs(one.model, makeTask(one.task).layout);
  const own = Object.keys(d.params ?? {});
  const ownCount = [...specs].filter(([p]) => own.some((n) => p.endsWith(`/attn/${n}`))).reduce((a, [, s]) => a + size(s.shape), 0);
  const total = [...specs.values()].reduce((a, s) => a + size(s.shape), 0);
  const shapes = own.map((n) => `${n} [${specs.get(`layer0/attn/${n}`)!.shape.join(', ')}]`).join(', ');
  lines.push(
    `  parameters: ${total} per run in a 1-layer d_model 8 lookup model, ${ownCount} of them the variant's own` +
      (own.length ? ` (${shapes} per layer)` : ''),
  );
  return lines;
}

async function checkTask(m: LoadedModule): Promise<string[]> {
  const d = m.definition as TaskDefinition;
  const config = await loadConfigModules(resolveConfig({ task: { kind: m.path }, model: { dModel: 16, layers: 2 } }));
  const task = makeTask(config.task);
  const L = task.layout;
  const options = Object.keys(d.options).map((k) => `${k} ${JSON.stringify(d.options[k].default)}`);
  const lines = [`task ${d.name} (${m.path}): ${d.about}`, `  options (defaults): ${options.join(', ') || 'none'}`];
  lines.push(
    `  layout: ${L.positions} positions, ${L.featuresPerPosition} embedding row(s) each from ${L.inputVocab} rows, ${L.outputVocab} classes, ` +
      `supervised rows ${L.queryStart}..${L.queryStart + L.queryCount - 1}, content 0..${L.contentPositions - 1}, ${L.causal ? 'causal' : 'full'} attention`,
  );
  const fail = (why: string): never => {
    throw new UserError(`check: task module ${m.path}: ${why}`);
  };
  const draw = (seed: number) => task.draw(Stream.derive(seed, 'check/task'), DRAWN);
  let a: Encoded;
  let examples: unknown[];
  try {
    a = draw(0);
    examples = task.sample(Stream.derive(0, 'check/task'), DRAWN);
  } catch (err) {
    throw new UserError(err instanceof Error ? err.message : String(err));
  }
  const same = (x: Encoded, y: Encoded) =>
    ['features', 'targets', 'sources'].every((k) => String(x[k as keyof Encoded]) === String(y[k as keyof Encoded]));
  if (!same(a, draw(0))) fail('the same seed drew different examples: draw only from the rng it is given');
  if (same(a, draw(1))) fail(`seeds 0 and 1 drew the same ${DRAWN} examples: draw from the rng it is given`);
  if (!same(a, task.encode(JSON.parse(JSON.stringify(examples)))))
    fail('an example read back from JSON (as the eval file holds it) encodes differently');
  lines.push(`  examples: ${DRAWN} drawn, each within its layout; read back from JSON they encode the same`);
  const classes = new Set(a.targets).size;
  lines.push(
    `  deterministic: the same seed draws the same ${DRAWN} examples; another seed draws others (${classes} of ${L.outputVocab} classes appear as targets)`,
  );
  lines.push(gradientLine(config, (p) => p === 'embed/table' || p.startsWith('layer0/attn/'), m.path));
  lines.push(determinismLine(config, m.path));
  const total = [...paramSpecs(config.model, L).values()].reduce((s, p) => s + size(p.shape), 0);
  lines.push(`  parameters: ${total} per run with the default qkv model at d_model 16, 2 layers; trains on the fused kernel like the built-in tasks`);
  return lines;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Autodiff's gradient against central differences, at a few seeded coordinates of each parameter `pick` chooses. */
function gradientLine(config: Config, pick: (path: string) => boolean, module: string): string {
  return withSeedZeroLoss(config, Stream.derive(1, 'check/batch'), 8, (loss, params) => {
    const lossValue = () => tf.tidy(() => loss().dataSync()[0]);
    const byName = tf.tidy(() => {
      const { grads } = tf.variableGrads(loss);
      return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync() as Float32Array]));
    });
    const rng = Stream.derive(2, 'check/coordinates');
    let worst = 0;
    let checked = 0;
    for (const [path, v] of params) {
      if (!pick(path)) continue;
      const grad = byName[v.name];
      const values = v.dataSync().slice() as Float32Array;
      for (let i = 0; i < Math.min(FD_COORDS, values.length); i++) {
        const at = rng.int(0, values.length - 1);
        const probe = (delta: number) => {
          const moved = values.slice();
          moved[at] += delta;
          tf.tidy(() => v.assign(tf.tensor(moved, v.shape))); // tidy frees the tensor the variable took its values from
          return lossValue();
        };
        const fd = (probe(FD_STEP) - probe(-FD_STEP)) / (2 * FD_STEP);
        tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
        const ad = grad ? grad[at] : 0;
        const gap = Math.abs(fd - ad);
        if (gap > FD_ABS + FD_REL * Math.max(Math.abs(fd), Math.abs(ad)))
          throw new UserError(
            `check: ${module}: the gradient of ${path}[${at}] is ${ad.toPrecision(3)} by autodiff but ` +
              `${fd.toPrecision(3)} by central differences; an op in it has no gradient or a wrong one (tf.round, tf.argMax, a tensor built from dataSync())`,
          );
        worst = Math.max(worst, gap / Math.max(Math.abs(fd), Math.abs(ad), 1e-3));
        checked++;
      }
    }
    return `  gradients: autodiff agrees with central differences (step ${FD_STEP}) at ${checked} coordinates; largest relative gap ${worst.toPrecision(2)}`;
  });
}

/** Three Adam steps on the tfjs graph, twice from the same seed: the losses must be the same bits, and no tensor may leak. */
function determinismLine(config: Config, module: string): string {
  const task = makeTask(config.task);
  const layout = task.layout;
  const train = () => {
    const engine = new TfjsEngine({
      model: config.model,
      layout,
      initial: [{ params: initialValues(config.model, layout, 0) }],
      evalSet: task.draw(Stream.derive(3, 'check/eval'), 16),
      snapshotExamples: 1,
    });
    const losses: number[] = [];
    const tensors: number[] = [];
    try {
      for (let t = 1; t <= 3; t++) {
        losses.push(engine.step([task.draw(Stream.derive(4, `check/step${t}`), 8)], [3e-3], t, false).loss[0]);
        tensors.push(tf.memory().numTensors);
      }
    } finally {
      engine.dispose();
    }
    return { losses, tensors };
  };
  const a = train();
  const b = train();
  if (a.losses.some((x, i) => !Object.is(x, b.losses[i])))
    throw new UserError(
      `check: ${module}: the same seed gave different losses (${a.losses.join(', ')} then ${b.losses.join(', ')}); draw only from the rng given`,
    );
  if (a.tensors[2] !== a.tensors[1])
    throw new UserError(`check: ${module}: each training step leaves ${a.tensors[2] - a.tensors[1]} tensor(s) behind`);
  const shown = a.losses.map((x) => x.toPrecision(4)).join(', ');
  return `  deterministic: 3 training steps from seed 0, twice, give bit-identical losses (${shown}); no tensor leaks`;
}
