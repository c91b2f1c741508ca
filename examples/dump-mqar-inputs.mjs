// Writes what one kit MQAR run starts from, for src/peer/replay_mqar.py: its initial parameters (JSON) and every
// training batch it draws (int32 token ids and targets), exactly as the trainer draws them. With both, PyTorch
// trains on the kit's draws, so any difference left between the two implementations is in the arithmetic.
// Usage, after npm run build: node examples/dump-mqar-inputs.mjs <qkv|qv|qx|qq> <lr> <seed> <out dir>
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile, resolveConfig } from '../dist/config.js';
import { makeTask } from '../dist/tasks/index.js';
import { initialValues, paramSpecs } from '../dist/model/paramSpecs.js';
import { Stream } from '../dist/rng.js';

const [attention, lr, seed, out] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
const file = loadConfigFile(new URL('../configs/mqar.yaml', import.meta.url).pathname);
const cfg = resolveConfig({ ...file, model: { ...file.model, attention }, train: { ...file.train, lr, seed } });
const task = makeTask(cfg.task);
const specs = paramSpecs(cfg.model, task.layout);
const params = Object.fromEntries(
  [...initialValues(cfg.model, task.layout, seed)].map(([k, v]) => [k, { shape: specs.get(k).shape, values: [...v] }]),
);
// The trainer's own stream and draw (runs/groupSpec.ts): one batch per step.
const stream = Stream.derive(seed, `data/${task.id}`);
const { steps, batchSize } = cfg.train;
const { positions, queryCount } = task.layout;
const features = new Int32Array(steps * batchSize * positions);
const targets = new Int32Array(steps * batchSize * queryCount);
for (let k = 0; k < steps; k++) {
  const batch = task.draw(stream, batchSize);
  features.set(batch.features, k * batchSize * positions);
  targets.set(batch.targets, k * batchSize * queryCount);
}
mkdirSync(out, { recursive: true });
const base = join(out, `${attention}-lr${lr}-seed${seed}`);
writeFileSync(`${base}.json`, JSON.stringify({ attention, lr, seed, params, warmup: cfg.train.warmup, steps, batchSize }));
writeFileSync(`${base}.features.i32`, Buffer.from(features.buffer));
writeFileSync(`${base}.targets.i32`, Buffer.from(targets.buffer));
console.log(base);
