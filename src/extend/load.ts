/**
 * Loads the users' modules a config names (model.attention, task.kind), checks them, registers them for the
 * model and the tasks, and records each one's name and content hash in the config (config.json then says which
 * module trained a run, and a changed module is refused on resume and sweep re-use). TypeScript modules load
 * through jiti, without a build step. Every fault is one line naming the module, before anything is written.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Jiti } from 'jiti';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { UserError, firstLine } from '../errors.js';
import { stepSizeFault, validate, type Config } from '../config.js';
import { isModulePath } from '../modulePath.js';
import { VARIANTS, variantLabelClash, type ModuleRecord } from '../model/schema.js';
import { registerVariant, type VariantDefinition } from '../model/variants.js';
import { layoutFault, registerTask, userTask, TaskFault, type TaskDefinition, type TaskOption, type TaskOptions } from '../tasks/user.js';
import type { BackendChoice } from '../backend-names.js';
import { Stream } from '../rng.js';

export type Definition = VariantDefinition | TaskDefinition;

export interface LoadedModule {
  path: string;
  sha256: string;
  definition: Definition;
}

/**
 * Fresh imports every time (no module or transform cache): a module edited between two loads must be the new one.
 * `qkv-lab` in a user's module is this kit's moduleApi.ts (its define… helpers), wherever the module lives: a module in
 * a folder with no node_modules still loads, and one in a project with its own copy of the kit gets the copy that runs it.
 */
let jiti: Jiti | undefined;
/** Made on the first user module: jiti took about 60 ms of every process's start, and most runs load no module. */
async function moduleLoader(): Promise<Jiti> {
  if (jiti) return jiti;
  const { createJiti } = await import('jiti');
  const here = fileURLToPath(import.meta.url);
  jiti = createJiti(import.meta.url, {
    moduleCache: false,
    fsCache: false,
    alias: { 'qkv-lab': join(dirname(here), here.endsWith('.ts') ? 'moduleApi.ts' : 'moduleApi.js') },
  });
  return jiti;
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;
const PARAM_NAME = /^[a-z][a-z0-9_]{0,39}$/;
const BUILTIN_PARAMS = ['w_q', 'w_k', 'w_v', 'q_norm', 'k_norm'];

/** Imports the module at `path` (absolute) and finds its definition: the default export, or the one named export made with define…. */
export async function importModule(path: string, expected: 'variant' | 'task' | 'either', key: string): Promise<LoadedModule> {
  const what = expected === 'either' ? 'module' : `${expected} module`;
  if (!existsSync(path)) throw new UserError(`${key}: ${what} not found: ${path}`);
  if (!statSync(path).isFile()) throw new UserError(`${key}: ${what} ${path} is not a file`);
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  const loader = await moduleLoader(); // outside the try: a kit that cannot load jiti is not the module's fault
  let exports: Record<string, unknown>;
  try {
    exports = (await loader.import(path)) as Record<string, unknown>;
  } catch (err) {
    throw new UserError(`${what} ${path} threw on import: ${firstLine(err)}`);
  }
  const tagged = (v: unknown): v is Definition =>
    !!v && typeof v === 'object' && ((v as Definition).qkvLab === 'variant' || (v as Definition).qkvLab === 'task');
  const found = [
    exports?.default,
    ...Object.entries(exports ?? {})
      .filter(([k]) => k !== 'default')
      .map(([, v]) => v),
  ].filter(tagged);
  const unique = [...new Set(found)];
  if (unique.length === 0) {
    const names = Object.keys(exports ?? {});
    throw new UserError(
      `${what} ${path} exports no definition made with defineVariant or defineTask (its exports: ${names.length ? names.join(', ') : 'none'})`,
    );
  }
  if (unique.length > 1 && !tagged(exports.default))
    throw new UserError(`${what} ${path} exports ${unique.length} definitions; export the one to use as default`);
  const definition = tagged(exports.default) ? exports.default : unique[0];
  if (expected !== 'either' && definition.qkvLab !== expected)
    throw new UserError(`${key}: ${path} defines a ${definition.qkvLab}, not a ${expected}`);
  const fault = definition.qkvLab === 'variant' ? variantFault(definition) : taskFault(definition);
  if (fault) throw new UserError(`${definition.qkvLab} module ${path}: ${fault}`);
  return { path, sha256, definition };
}

function variantFault(d: VariantDefinition): string | null {
  if (typeof d.name !== 'string' || !NAME.test(d.name))
    return `name must be 1-40 letters, digits, '-' or '_' starting with a letter, got ${JSON.stringify(d.name)}`;
  if (d.name in VARIANTS) return `name '${d.name}' is a built-in variant's; choose another so reports tell them apart`;
  if (typeof d.isolates !== 'string' || !d.isolates.trim()) return 'isolates must be one line on what the variant isolates';
  if (typeof d.keys !== 'function') return 'keys must be a function of { tf, x, wQ, wV, params } returning keys [R, B, N, d]';
  if (d.values !== undefined && typeof d.values !== 'function') return 'values, when given, must be a function like keys';
  for (const [name, p] of Object.entries(d.params ?? {})) {
    if (!PARAM_NAME.test(name)) return `parameter name '${name}' must be lower-case letters, digits and '_'`;
    if (BUILTIN_PARAMS.includes(name)) return `parameter name '${name}' is the kit's own; choose another`;
    if (!p || (typeof p.shape !== 'function' && !Array.isArray(p.shape)))
      return `parameter '${name}' needs a shape: a list of sizes or ({ dModel, heads }) => sizes`;
    if (!(typeof p.init === 'number' || ['linear', 'normal', 'ones', 'zeros'].includes(p.init as string)))
      return `parameter '${name}': init must be 'linear', 'normal', 'ones', 'zeros' or a number, got ${JSON.stringify(p.init)}`;
  }
  return null;
}

function taskFault(d: TaskDefinition): string | null {
  if (typeof d.name !== 'string' || !NAME.test(d.name))
    return `name must be 1-40 letters, digits, '-' or '_' starting with a letter, got ${JSON.stringify(d.name)}`;
  if (typeof d.about !== 'string' || !d.about.trim()) return 'about must be one line on what the task asks of attention';
  for (const f of ['layout', 'sample', 'encode'] as const) if (typeof d[f] !== 'function') return `${f} must be a function`;
  if (!d.options || typeof d.options !== 'object') return 'options must be a mapping of option name to { default, why }';
  for (const [name, o] of Object.entries(d.options)) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) return `option name '${name}' must be letters and digits`;
    if (!o || !['number', 'boolean', 'string'].includes(typeof o.default))
      return `option '${name}' needs a default: a number, true/false or a string`;
    if (typeof o.why !== 'string' || !o.why.trim()) return `option '${name}' needs a why: one line on its default`;
    if (optionSchema(o).safeParse(o.default).success === false)
      return `option '${name}': its default ${JSON.stringify(o.default)} breaks its own bounds`;
  }
  return null;
}

/** An option's schema from its declaration: the default's type, its bounds, its choices. */
function optionSchema(o: TaskOption): z.ZodTypeAny {
  if (typeof o.default === 'boolean') return z.boolean();
  if (typeof o.default === 'string') return o.choices?.length ? z.enum(o.choices as [string, ...string[]]) : z.string();
  let n = z.number();
  if (o.integer) n = n.int();
  if (o.min !== undefined) n = n.min(o.min);
  if (o.max !== undefined) n = n.max(o.max);
  return n;
}

/** The task's options: its defaults ← task.options, validated as strictly as the kit's own keys (unknown keys named, closest suggested). */
export function taskOptions(d: TaskDefinition, given: Record<string, unknown>): TaskOptions {
  const schema = z.object(Object.fromEntries(Object.entries(d.options).map(([k, o]) => [k, optionSchema(o).default(o.default as never)]))).strict();
  return validate(schema, given, 'task.options') as TaskOptions;
}

export interface LoadOptions {
  /** Run the model once on the tfjs graph, so a variant whose keys have the wrong shape fails here, before anything is written. */
  probe?: boolean;
  backend?: BackendChoice;
  /** Modules imported already, by path: a sweep's runs share a few modules, each imported once. */
  cache?: Map<string, Promise<LoadedModule>>;
}

/**
 * Loads, checks and registers the modules `config` names, and returns it with `modules` recording each one's
 * name and hash. A module already recorded (a saved run's config.json) must still have that hash: a changed module
 * is refused in one line, as a run trained by other code must not be continued or reused.
 */
export async function loadConfigModules(config: Config, opts: LoadOptions = {}): Promise<Config> {
  const modules: Record<string, ModuleRecord> = { ...config.modules };
  const record = (m: LoadedModule, isolates: string) => {
    const saved = config.modules[m.path];
    if (saved && saved.sha256 !== m.sha256)
      throw new UserError(
        `${m.path} has changed since this run was trained (sha256 ${saved.sha256.slice(0, 12)}… then, ${m.sha256.slice(0, 12)}… now); ` +
          'restore it, or train into a new directory',
      );
    modules[m.path] = { name: m.definition.name, isolates, sha256: m.sha256 };
  };
  const attention = config.model.attention;
  if (isModulePath(attention)) {
    const m = await cached(opts, attention, () => importModule(attention, 'variant', 'model.attention'));
    const variant = m.definition as VariantDefinition;
    registerVariant(m.path, variant);
    record(m, variant.isolates);
  }
  if (isModulePath(config.task.kind)) {
    const m = await cached(opts, config.task.kind, () => importModule(config.task.kind, 'task', 'task.kind'));
    const task = m.definition as TaskDefinition;
    const options = taskOptions(task, config.task.options);
    let layout;
    try {
      layout = task.layout(options);
    } catch (err) {
      throw new UserError(`task module ${m.path}: layout() threw: ${firstLine(err)}`);
    }
    const fault = layoutFault(layout);
    if (fault) throw new UserError(`task module ${m.path}: ${fault}`);
    const sizeFault = stepSizeFault(config, layout.positions);
    if (sizeFault) throw new UserError(`config key 'train.batchSize': ${sizeFault}`);
    const id = `${task.name}-${createHash('sha256')
      .update(JSON.stringify([m.sha256, options]))
      .digest('hex')
      .slice(0, 12)}`;
    registerTask(m.path, task, options, id);
    drawProbe(m.path);
    record(m, task.about);
  }
  const loaded = { ...config, modules };
  if (opts.probe && isModulePath(attention)) await (await import('./probe.js')).probeModel(loaded, opts.backend ?? 'auto');
  return loaded;
}

function cached(opts: LoadOptions, path: string, load: () => Promise<LoadedModule>): Promise<LoadedModule> {
  if (!opts.cache) return load();
  if (!opts.cache.has(path)) opts.cache.set(path, load());
  return opts.cache.get(path)!;
}

/**
 * Every planned run's config with its modules loaded and recorded. Each module is imported once, and each user
 * variant runs once on the tfjs graph (probe) before any run is written.
 */
export async function loadRunModules<R extends { config: Config }>(runs: R[], backend: BackendChoice): Promise<R[]> {
  const cache = new Map<string, Promise<LoadedModule>>();
  const probed = new Set<string>();
  const out: R[] = [];
  for (const run of runs) {
    const key = JSON.stringify([run.config.model, run.config.task]);
    const probe = isModulePath(run.config.model.attention) && !probed.has(key);
    probed.add(key);
    out.push({ ...run, config: await loadConfigModules(run.config, { cache, probe, backend }) });
  }
  const clash = variantLabelClash(out.map((r) => r.config));
  if (clash) throw new UserError(clash);
  return out;
}

/** Draws a few examples through the task's own checks: a task whose examples break its layout fails now, in one line. */
function drawProbe(path: string): void {
  try {
    const task = userTask(path);
    const examples = task.sample(Stream.derive(0, 'probe'), 16);
    JSON.parse(JSON.stringify(examples)); // examples go to the eval file as JSON
    task.encode(examples);
  } catch (err) {
    if (err instanceof TaskFault) throw new UserError(err.message);
    throw new UserError(`task module ${path}: drawing an example threw: ${firstLine(err)}`);
  }
}

/** One line per user variant in these configs: it trains on the tfjs graph, since the fused kernel computes only the built-in ones. */
export function moduleNotes(configs: Config[]): string[] {
  const seen = new Map<string, string>();
  for (const c of configs)
    if (isModulePath(c.model.attention) && c.train.kernel === 'auto')
      seen.set(c.model.attention, c.modules[c.model.attention]?.name ?? c.model.attention);
  return [...seen].map(
    ([path, name]) => `note: variant ${name} (${path}) trains on the tfjs graph: the fused kernel computes the built-in variants only`,
  );
}
