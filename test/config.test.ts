/** Config: defaults ← file ← --set, and one-line UserErrors that name the key path. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig, applyOverrides, loadConfigFile, configWarnings } from '../src/config.js';
import { UserError } from '../src/errors.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'qkv-config-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

/** The UserError thrown by f; fails the test if f succeeds or throws anything else. */
function userError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    const message = (err as Error).message;
    expect(message, 'a UserError message is one line').not.toMatch(/[\r\n]/);
    expect(message.length).toBeGreaterThan(10);
    return message;
  }
  throw new Error('expected a UserError, but nothing was thrown');
}

describe('resolveConfig: defaults ← file ← --set', () => {
  it('applies every default to an empty config', () => {
    expect(resolveConfig({})).toEqual({
      name: 'run',
      task: { kind: 'lookup', slots: 8, keyVocab: 16, valueVocab: 16, length: 8, vocab: 16, pairs: 8, queries: 4, options: {} },
      model: { attention: 'qkv', qkNorm: false, dModel: 8, heads: 1, layers: 1, embStd: 1, initScale: 1, inputScale: 1 },
      train: { steps: 2000, batchSize: 128, lr: 1e-2, warmup: 50, seed: 0, logEvery: 20, kernel: 'auto', precision: 'float64', checkpointEvery: 500 },
      eval: { size: 512, seed: 1234 },
      modules: {},
    });
  });

  it('file values override defaults; keys the file leaves out keep their defaults', () => {
    const values = loadConfigFile(file('a.yaml', 'name: mine\nmodel:\n  attention: qv\n  dModel: 16\ntrain:\n  lr: 3.0e-3\n'));
    const cfg = resolveConfig(values);
    expect(cfg.name).toBe('mine');
    expect(cfg.model).toEqual({ attention: 'qv', qkNorm: false, dModel: 16, heads: 1, layers: 1, embStd: 1, initScale: 1, inputScale: 1 });
    expect(cfg.train.lr).toBe(0.003);
    expect(cfg.train.steps).toBe(2000);
    expect(cfg.eval).toEqual({ size: 512, seed: 1234 });
  });

  it('--set overrides the file, and the file object is not mutated', () => {
    const values = loadConfigFile(file('b.yaml', 'model:\n  attention: qv\ntrain:\n  lr: 3.0e-3\n  steps: 100\n'));
    const snapshot = structuredClone(values);
    const cfg = resolveConfig(values, ['model.attention=qkv', 'train.steps=60', 'eval.size=64']);
    expect(cfg.model.attention).toBe('qkv');
    expect(cfg.train.steps).toBe(60);
    expect(cfg.train.lr).toBe(0.003); // from the file
    expect(cfg.eval.size).toBe(64);
    expect(values).toEqual(snapshot);
  });

  it('--set train.lr=3e-3 parses a number, not a string', () => {
    const cfg = resolveConfig({}, ['train.lr=3e-3']);
    expect(cfg.train.lr).toBe(0.003);
    expect(typeof cfg.train.lr).toBe('number');
    expect(applyOverrides({}, ['train.lr=3e-3'])).toEqual({ train: { lr: 0.003 } });
    expect(resolveConfig({}, ['train.lr=1.0e-2', 'train.lr=0.05']).train.lr).toBe(0.05); // the last --set wins
  });

  it('reads the shipped configs/lookup.yaml', () => {
    const cfg = resolveConfig(loadConfigFile(join(repo, 'configs', 'lookup.yaml')));
    expect(cfg.name).toBe('lookup');
    expect(cfg.task.kind).toBe('lookup');
    expect(cfg.model.dModel).toBe(8);
  });

  it('an empty file is an empty config (all defaults)', () => {
    expect(resolveConfig(loadConfigFile(file('empty.yaml', '')))).toEqual(resolveConfig({}));
  });

  it('is pure: the same inputs give the same Config', () => {
    const values = { train: { lr: 0.02 } };
    expect(resolveConfig(values, ['train.seed=3'])).toEqual(resolveConfig(values, ['train.seed=3']));
  });
});

describe('errors name the key path, on one line', () => {
  it("unknown key 'train.lrr' suggests 'train.lr' (from --set and from a file)", () => {
    for (const f of [() => resolveConfig({}, ['train.lrr=1e-3']), () => resolveConfig({ train: { lrr: 1e-3 } })]) {
      const m = userError(f);
      expect(m).toContain("'train.lrr'");
      expect(m).toMatch(/did you mean 'train\.lr'\?/);
    }
  });

  it("unknown top-level 'modle' suggests 'model'", () => {
    const m = userError(() => resolveConfig({ modle: { dModel: 8 } }));
    expect(m).toContain("'modle'");
    expect(m).toMatch(/did you mean 'model'\?/);
  });

  it('a wrong type (train.steps: "many") names the path and what it got', () => {
    const m = userError(() => resolveConfig(loadConfigFile(file('type.yaml', 'train:\n  steps: many\n'))));
    expect(m).toContain('train.steps');
    expect(m).toContain('many');
  });

  it('a negative or zero learning rate is refused', () => {
    for (const lr of ['-1', '0', '-3e-3']) {
      const m = userError(() => resolveConfig({}, [`train.lr=${lr}`]));
      expect(m).toContain('train.lr');
    }
  });

  it("model.attention: 'qk' names the allowed values", () => {
    const m = userError(() => resolveConfig({}, ['model.attention=qk']));
    expect(m).toContain('model.attention');
    expect(m).toContain('qkv');
    expect(m).toMatch(/'qv'|\bqv\b/);
    expect(m).toContain('qk');
    // One clean sentence: not zod's "received 'qk'" followed by our "(got "qk")".
    expect(m).toBe(
      "config key 'model.attention': must be one of 'qkv', 'qv', 'qx', 'qq' or a variant module's path such as ./variants/mine.ts, " +
        `got "qk"; did you mean 'qkv'?`,
    );
  });

  it("an unknown variant gets the closest valid one: 'qxx' → 'qx', 'qqq' → 'qq'", () => {
    expect(userError(() => resolveConfig({}, ['model.attention=qxx']))).toMatch(/did you mean 'qx'\?$/);
    expect(userError(() => resolveConfig({}, ['model.attention=qqq']))).toMatch(/did you mean 'qq'\?$/);
  });

  it('model.qkNorm must be a boolean; the fused kernels take every shape', () => {
    expect(userError(() => resolveConfig({}, ['model.qkNorm=yes']))).toMatch(/^config key 'model\.qkNorm': .*boolean/);
    expect(resolveConfig({}, ['model.qkNorm=true', 'train.kernel=fused']).model.qkNorm).toBe(true);
    expect(resolveConfig({}, ['model.layers=2', 'train.kernel=fused']).model.layers).toBe(2);
  });

  it('dModel not divisible by heads', () => {
    const m = userError(() => resolveConfig({ model: { dModel: 6, heads: 4 } }));
    expect(m).toContain('model.heads');
    expect(m).toContain('6');
    expect(() => resolveConfig({ model: { dModel: 8, heads: 4 } })).not.toThrow();
  });

  it('slots > keyVocab (lookup keys must be distinct)', () => {
    const m = userError(() => resolveConfig({ task: { kind: 'lookup', slots: 20, keyVocab: 16 } }));
    expect(m).toContain('task.slots');
    expect(m).toContain('task.keyVocab');
    expect(() => resolveConfig({ task: { kind: 'lookup', slots: 16, keyVocab: 16 } })).not.toThrow();
    expect(() => resolveConfig({ task: { kind: 'copy', slots: 20, keyVocab: 16 } })).not.toThrow(); // copy ignores slots
  });

  it('mqar: more queries than pairs, or more pairs than keys, is refused naming the key', () => {
    expect(userError(() => resolveConfig({ task: { kind: 'mqar', pairs: 4, queries: 5 } }))).toMatch(
      /^config key 'task\.queries': must be ≤ task\.pairs \(4\).*got 5$/,
    );
    expect(userError(() => resolveConfig({ task: { kind: 'mqar', pairs: 20, keyVocab: 16 } }))).toMatch(
      /^config key 'task\.pairs': must be ≤ task\.keyVocab \(16\).*got 20$/,
    );
    expect(() => resolveConfig({ task: { kind: 'mqar', pairs: 4, queries: 4, keyVocab: 4 } })).not.toThrow();
    expect(() => resolveConfig({ task: { kind: 'lookup', pairs: 4, queries: 5 } })).not.toThrow(); // lookup ignores them
  });

  it('warns (without refusing) about a one-layer MQAR model, a legitimate control', () => {
    const one = resolveConfig({ task: { kind: 'mqar' }, model: { layers: 1 } });
    expect(configWarnings(one)).toEqual([expect.stringMatching(/mqar with model\.layers 1: .*control.*model\.layers 2/)]);
    expect(configWarnings(resolveConfig({ task: { kind: 'mqar' }, model: { layers: 2 } }))).toEqual([]);
    expect(configWarnings(resolveConfig({ model: { layers: 1 } }))).toEqual([]);
  });

  it('a non-integer step count and a non-mapping section', () => {
    expect(userError(() => resolveConfig({}, ['train.steps=1.5']))).toContain('train.steps');
    expect(userError(() => resolveConfig({ task: 3 }))).toContain("'task'");
  });

  it('a --set without "=" or with a bad path', () => {
    expect(userError(() => resolveConfig({}, ['train.lr']))).toContain('train.lr');
    expect(userError(() => resolveConfig({}, ['train..lr=1']))).toContain('train..lr');
    expect(userError(() => resolveConfig({}, ['__proto__.polluted=1']))).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a missing file names the path', () => {
    const path = join(tmp, 'does-not-exist.yaml');
    const m = userError(() => loadConfigFile(path));
    expect(m).toContain(path);
    expect(m).toMatch(/not found/);
  });

  it('malformed YAML names the file and the line', () => {
    const path = file('bad.yaml', 'name: x\ntrain:\n  lr: [1, 2\n  steps: 3\n');
    const m = userError(() => loadConfigFile(path));
    expect(m).toContain(path);
    expect(m).toMatch(/malformed YAML/);
    expect(m).toMatch(/line \d+/);
  });

  it('duplicate keys and tab indentation are malformed too', () => {
    expect(userError(() => loadConfigFile(file('dup.yaml', 'name: a\nname: b\n')))).toMatch(/malformed YAML/);
    expect(userError(() => loadConfigFile(file('tab.yaml', 'train:\n\tlr: 1\n')))).toMatch(/malformed YAML/);
  });

  it('a top level that is not a mapping', () => {
    expect(userError(() => loadConfigFile(file('list.yaml', '- 1\n- 2\n')))).toMatch(/mapping/);
  });

  it('a malformed --set value', () => {
    const m = userError(() => resolveConfig({}, ['train.lr=[1, 2']));
    expect(m).toContain('train.lr');
  });
});
