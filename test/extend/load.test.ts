import { describe, expect, inject, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anchorModulePaths, resolveConfig, loadConfigFile } from '../../src/config.js';
import { importModule, loadConfigModules, loadRunModules, moduleNotes } from '../../src/extend/load.js';
import { variantLabel, variantIsolates, variantLabelClash, type ModuleRecord } from '../../src/model/schema.js';
import { analyseRuns } from '../../src/commands/compare.js';
import { paramSpecs } from '../../src/model/paramSpecs.js';
import { makeTask } from '../../src/tasks/index.js';
import { planSweep } from '../../src/sweep/plan.js';
import { refusal } from '../helpers/refusal.js';
import { REPO } from '../helpers/shared.js';
import { UserError, USER_ERROR_EXIT, reportError } from '../../src/errors.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'modules');
const TEMPERED = join(REPO, 'examples', 'variants', 'tempered.ts');
const INDUCTION = join(REPO, 'examples', 'tasks', 'induction.ts');
const fixture = (name: string) => join(FIXTURES, name);

describe('module paths in configs', () => {
  it('are made absolute relative to the file that names them: a config, a sweep grid, an inline base', () => {
    const dir = '/studies/mine';
    expect(anchorModulePaths({ model: { attention: './variants/t.ts' }, task: { kind: '../tasks/i.ts' } }, dir)).toEqual({
      model: { attention: '/studies/mine/variants/t.ts' },
      task: { kind: '/studies/tasks/i.ts' },
    });
    const sweep = anchorModulePaths(
      { base: { model: { attention: 'qv' } }, grid: { 'model.attention': ['qkv', './v.ts'], 'model.variant': ['./w.ts+qknorm'] } },
      dir,
    );
    expect(sweep.grid).toEqual({ 'model.attention': ['qkv', '/studies/mine/v.ts'], 'model.variant': ['/studies/mine/w.ts+qknorm'] });
    expect(sweep.base).toEqual({ model: { attention: 'qv' } }); // built-in names stay as they are
  });

  it('--set names a module relative to the working directory', () => {
    expect(resolveConfig({}, ['model.attention=./v.ts']).model.attention).toBe(join(process.cwd(), 'v.ts'));
  });

  it('a misspelt built-in is still told its closest name, and task.options is refused for a built-in task', () => {
    expect(() => resolveConfig({ model: { attention: 'qvk' } })).toThrow(
      /must be one of 'qkv', 'qv', 'qx', 'qq' or a variant module's path .*did you mean 'qv'\?/,
    );
    expect(() => resolveConfig({ task: { kind: 'lokup' } })).toThrow(/did you mean 'lookup'\?/);
    expect(() => resolveConfig({ task: { options: { length: 4 } } })).toThrow(/task\.options.*built in/);
  });

  it('a config file may not write `modules`: the kit records them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qkv-modules-'));
    writeFileSync(join(dir, 'c.yaml'), 'modules: {}\n');
    expect(() => loadConfigFile(join(dir, 'c.yaml'))).toThrow(/'modules' is recorded by the kit/);
  });

  it('train.kernel fused with a user variant is refused in one line', () => {
    expect(() => resolveConfig({ model: { attention: TEMPERED }, train: { kernel: 'fused' } })).toThrow(
      /train\.kernel.*fused computes the built-in variants only/,
    );
  });
});

describe('loading a variant module', () => {
  it('registers it, records its name, what it isolates and its hash, and labels its runs by its name', async () => {
    const config = await loadConfigModules(resolveConfig({ model: { attention: TEMPERED } }));
    const record = config.modules[TEMPERED];
    expect(record.name).toBe('tempered');
    expect(record.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(variantLabel(config.model, config.modules)).toBe('tempered');
    expect(variantIsolates(config.model, config.modules)).toBe(record.isolates);
    expect(variantIsolates({ ...config.model, qkNorm: true }, config.modules)).toBe(`${record.isolates}, with QK-norm`);
    expect(variantLabel({ ...config.model, qkNorm: true }, config.modules)).toBe('tempered+qknorm');
    // Its own parameter, one per layer, beside W_Q and W_V (no W_K).
    const specs = paramSpecs(config.model, makeTask(config.task).layout);
    expect(specs.get('layer0/attn/log_temp')?.shape).toEqual([1, 1]);
    expect(specs.has('layer0/attn/w_k')).toBe(false);
    expect(moduleNotes([config])).toEqual([expect.stringContaining('trains on the tfjs graph')]);
  });

  it.each([
    ['a missing file', 'missing.ts', /model\.attention: variant module not found: .*missing\.ts$/],
    [
      'a module that exports nothing valid',
      'nothing.ts',
      /nothing\.ts exports no definition made with defineVariant or defineTask \(its exports: default, keys\)/,
    ],
    ['a module that throws on import', 'throws.ts', /throws\.ts threw on import: the lab notebook is missing$/],
    ['a task where a variant belongs', 'bad-task.ts', /model\.attention: .*bad-task\.ts defines a task, not a variant/],
    [
      "a module that calls the library's train()",
      'calls-train.ts',
      /calls-train\.ts threw on import: qkv-lab's train\(\) cannot be called inside a variant or task module/,
    ],
  ])('%s is one line naming the module', async (_what, file, message) => {
    const line = await refusal(loadConfigModules(resolveConfig({ model: { attention: fixture(file) } })));
    expect(line).toMatch(message);
    expect(line).toContain(fixture(file));
    expect(line).not.toContain('\n');
  });

  it('`qkv-lab` in a module names every export of the library: the same define… helpers and errors, runners that say why they cannot run', async () => {
    const [library, inModule] = await Promise.all([import('../../src/api.js'), import('../../src/extend/moduleApi.js')]);
    expect(Object.keys(inModule).sort()).toEqual(Object.keys(library).sort());
    for (const name of ['defineVariant', 'defineTask', 'UserError', 'EnvironmentError'] as const) expect(inModule[name], name).toBe(library[name]);
  });

  it("a UserError a module throws is the kit's: one line and exit 2, not an internal error", async () => {
    // The module's `qkv-lab` is a copy the loader evaluates on its own (jiti), not the module vitest shares with this file.
    const { definition } = await importModule(fixture('throws-user-error.ts'), 'variant', 'model.attention');
    let thrown: unknown;
    try {
      (definition as { keys: (context: never) => unknown }).keys({} as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UserError);
    let printed = '';
    expect(reportError(thrown, (text) => void (printed += text))).toBe(USER_ERROR_EXIT);
    expect(printed).toBe('qkv-lab: keys() refuses this input\n');
  });

  it('a variant whose keys have the wrong shape is refused by the probe, before anything is written', async () => {
    const config = resolveConfig({ model: { attention: fixture('wrong-shape.ts') } });
    await expect(loadConfigModules(config)).resolves.toBeTruthy(); // loading alone cannot see the shape
    const line = await refusal(loadConfigModules(config, { probe: true }));
    expect(line).toMatch(/wrong-shape\.ts: keys\(\) returned shape \[1, 2, 8, 8\], expected \[R, B, N, d\] = \[1, 2, 9, 8\]/);
  });

  it('a changed module is refused where a saved config recorded another hash', async () => {
    const config = await loadConfigModules(resolveConfig({ model: { attention: TEMPERED } }));
    const saved = { ...config, modules: { [TEMPERED]: { ...config.modules[TEMPERED], sha256: '0'.repeat(64) } } };
    expect(await refusal(loadConfigModules(saved))).toMatch(
      /tempered\.ts has changed since this run was trained \(sha256 000000000000… then, [0-9a-f]{12}… now\)/,
    );
  });

  it('a module may be named by a sweep grid beside built-ins; run names use its file name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qkv-grid-'));
    mkdirSync(join(dir, 'variants'));
    writeFileSync(join(dir, 'variants', 'mine.ts'), `export { default } from ${JSON.stringify(TEMPERED)};\n`);
    writeFileSync(join(dir, 's.yaml'), 'name: s\nbase: {}\ngrid:\n  model.attention: [qkv, ./variants/mine.ts]\n  train.seed: [0]\n');
    const plan = planSweep(loadConfigFile(join(dir, 's.yaml')), join(dir, 's.yaml'), []);
    expect(plan.runs.map((r) => r.name)).toEqual(['attention-qkv_seed-0', 'attention-mine_seed-0']);
    const runs = await loadRunModules(plan.runs, 'auto');
    expect(runs[1].config.modules[join(dir, 'variants', 'mine.ts')].name).toBe('tempered');
    expect(runs[0].config.modules).toEqual({});
  });

  it('model.variant takes a module too, with or without +qknorm', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qkv-variant-'));
    writeFileSync(join(dir, 's.yaml'), 'name: s\nbase: {}\ngrid:\n  model.variant: [qv, ./v.ts, ./v.ts+qknorm]\n');
    const plan = planSweep(loadConfigFile(join(dir, 's.yaml')), join(dir, 's.yaml'), []);
    expect(plan.runs.map((r) => [r.name, r.config.model.attention, r.config.model.qkNorm])).toEqual([
      ['variant-qv', 'qv', false],
      ['variant-v', join(dir, 'v.ts'), false],
      ['variant-v+qknorm', join(dir, 'v.ts'), true],
    ]);
  });
});

describe('one label, one variant: reports group runs by label, so two variants under one label are refused', () => {
  const record = (name: string, sha: string): ModuleRecord => ({ name, isolates: 'x', sha256: sha.repeat(64) });
  const run = (attention: string, modules: Record<string, ModuleRecord> = {}, qkNorm = false) => ({ model: { attention, qkNorm }, modules });

  it('variantLabelClash names two module files with one name, two versions of one file, and a module named like a built-in', () => {
    expect(variantLabelClash([run('qkv'), run('qv'), run('qkv', {}, true), run('qkv')])).toBeNull();
    const a = run('/s/a.ts', { '/s/a.ts': record('mine', 'a') });
    expect(variantLabelClash([a, run('/t/copy.ts', { '/t/copy.ts': record('mine', 'a') })])).toBeNull(); // the same file, copied
    expect(variantLabelClash([a, run('/s/a.ts', { '/s/a.ts': record('mine', 'a') }, true)])).toBeNull(); // mine and mine+qknorm
    expect(variantLabelClash([a, run('/s/b.ts', { '/s/b.ts': record('mine', 'b') })])).toBe(
      "'mine' names two different variants, /s/a.ts and /s/b.ts; give each module its own name (defineVariant's name) so reports tell them apart",
    );
    expect(variantLabelClash([a, run('/s/a.ts', { '/s/a.ts': record('mine', 'b') })])).toBe(
      "runs labelled 'mine' come from two versions of /s/a.ts (sha256 aaaaaaaaaaaa… and bbbbbbbbbbbb…); " +
        'compare them apart, or train them again from one version',
    );
    expect(variantLabelClash([run('/s/a.ts', { '/s/a.ts': record('a', 'a') }), run('/s/a.ts')])).toMatch(
      /two versions of \/s\/a\.ts \(sha256 aaaaaaaaaaaa… and not recorded\)/,
    );
    // An unrecorded module is labelled by its file name.
    expect(variantLabelClash([run('qkv'), run('/s/qkv.ts')])).toMatch(/^'qkv' names two different variants, qkv and \/s\/qkv\.ts/);
  });

  it('a sweep over two module files that share a name is refused before anything is trained', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qkv-clash-'));
    writeFileSync(join(dir, 'edited.ts'), readFileSync(TEMPERED, 'utf8') + '// an edited copy that kept the name\n');
    writeFileSync(join(dir, 's.yaml'), `name: s\nbase: {}\ngrid:\n  model.attention: [${JSON.stringify(TEMPERED)}, ./edited.ts]\n`);
    const plan = planSweep(loadConfigFile(join(dir, 's.yaml')), join(dir, 's.yaml'), []);
    expect(await refusal(loadRunModules(plan.runs, 'auto'))).toBe(
      `'tempered' names two different variants, ${TEMPERED} and ${join(dir, 'edited.ts')}; ` +
        "give each module its own name (defineVariant's name) so reports tell them apart",
    );
  });

  it('compare refuses runs of two modules with one name, and pools copies of one module', async () => {
    const { dir: finished } = inject('finishedRun');
    const root = mkdtempSync(join(tmpdir(), 'qkv-clash-runs-'));
    const relabel = (copy: string, path: string, sha: string) => {
      cpSync(finished, join(root, copy), { recursive: true });
      const file = join(root, copy, 'config.json');
      const config = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...config, model: { ...config.model, attention: path }, modules: { [path]: record('mine', sha) } }));
    };
    relabel('a', '/s/a.ts', 'a');
    relabel('b', '/t/copy.ts', 'a');
    expect(analyseRuns([root]).analysis.series.flatMap((s) => s.variants.map((v) => [v.variant, v.perLr[0].runs]))).toEqual([['mine', 2]]);
    relabel('c', '/s/b.ts', 'c');
    expect(await refusal(Promise.resolve().then(() => analyseRuns([root])))).toMatch(
      /^'mine' names two different variants, \/s\/a\.ts and \/s\/b\.ts/,
    );
  });
});

describe('loading a task module', () => {
  it('validates its options as strictly as the kit’s own keys, with defaults', async () => {
    const config = await loadConfigModules(resolveConfig({ task: { kind: INDUCTION, options: { length: 8 } } }));
    const task = makeTask(config.task);
    expect(task.layout).toMatchObject({ positions: 8, inputVocab: 16, outputVocab: 16, queryStart: 7, queryCount: 1, causal: true });
    expect(task.id).toMatch(/^induction-[0-9a-f]{12}$/);
    expect(await refusal(loadConfigModules(resolveConfig({ task: { kind: INDUCTION, options: { lenght: 8 } } })))).toBe(
      "unknown config key 'task.options.lenght'; did you mean 'task.options.length'?",
    );
    expect(await refusal(loadConfigModules(resolveConfig({ task: { kind: INDUCTION, options: { length: 2 } } })))).toMatch(
      /config key 'task\.options\.length': .*4/,
    );
  });

  it('a task whose examples break its own layout is one line naming the module and the fault', async () => {
    const line = await refusal(loadConfigModules(resolveConfig({ task: { kind: fixture('bad-task.ts') } })));
    expect(line).toBe(`task module ${fixture('bad-task.ts')}: example 0 breaks its layout: targets[0] = 7 is outside the output vocabulary 0..3`);
  });

  it('importModule finds a definition by kind for `check`', async () => {
    expect((await importModule(INDUCTION, 'either', 'check')).definition.qkvLab).toBe('task');
    expect((await importModule(TEMPERED, 'either', 'check')).definition.qkvLab).toBe('variant');
  });
});
