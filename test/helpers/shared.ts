/** Paths and the tiny sweep shared by test/globalSetup.ts and the tests, without vitest's test API (globalSetup runs outside a test). */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI. `npm test` builds it in its pretest step. */
export const CLI = join(REPO, 'dist', 'cli.js');
/** configs/lookup.yaml: the small lookup task most end-to-end tests train on. */
export const LOOKUP = join(REPO, 'configs', 'lookup.yaml');

/** The tiny sweep: its grid (YAML) and the overrides that keep it to 40 steps. */
export const TINY_SWEEP = {
  grid: 'grid:\n  model.attention: [qkv, qv]\n  train.lr: [0.003, 0.03]\n  train.seed: [0, 1]\n',
  sets: ['--set', 'train.steps=40', '--set', 'train.logEvery=20', '--set', 'eval.size=64'],
};

/**
 * The finished run (test/globalSetup.ts trains it once): 20 steps, a row every 5, checkpoints at 10 and 20, so a
 * damaged newest checkpoint has a previous one to fall back on. Tests that change it copy it first.
 */
export const FINISHED_RUN = {
  sets: ['--set', 'train.steps=20', '--set', 'train.logEvery=5', '--set', 'train.checkpointEvery=10', '--set', 'eval.size=32'],
};
