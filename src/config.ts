/**
 * Config: defaults (beside the code that uses them) ← file ← `--set a.b=c`, merged by one pure function
 * and validated by zod. Every failure is a UserError that names the key path.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isModulePath, splitQkNorm } from './modulePath.js';
import { z } from 'zod';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { closest } from 'fastest-levenshtein';
import { UserError } from './errors.js';
import { taskSchema, evalSchema } from './tasks/schema.js';
import { modelSchema } from './model/schema.js';
import { trainSchema } from './train/schema.js';
import { BUILTIN_TASKS } from './tasks/schema.js';

/** What config.json records of each user module it names, by absolute path; written by the kit (src/extend/load.ts), never by hand. */
const moduleRecordSchema = z.object({ name: z.string(), isolates: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

/** Refuse configs whose activations would not fit: one batched step must stay well under the machine's memory. */
const MAX_STEP_FLOATS = 2e8;

export const configSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, dot, dash or underscore')
      .max(80)
      .default('run'),
    task: taskSchema.default({}),
    model: modelSchema.default({}),
    train: trainSchema.default({}),
    eval: evalSchema.default({}),
    modules: z.record(moduleRecordSchema).default({}), // filled when the modules are loaded, so a changed module is never mistaken for the old
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (isModulePath(cfg.model.attention) && cfg.train.kernel === 'fused') {
      ctx.addIssue({
        code: 'custom',
        path: ['train', 'kernel'],
        message: `fused computes the built-in variants only; ${cfg.model.attention} trains on the tfjs graph (use auto or tfjs)`,
      });
    }
    const userTask = isModulePath(cfg.task.kind);
    if (!userTask && Object.keys(cfg.task.options).length) {
      ctx.addIssue({
        code: 'custom',
        path: ['task', 'options'],
        message: `is for a task module's own settings; task.kind ${cfg.task.kind} is built in and takes task.${Object.keys(cfg.task.options)[0]} etc. directly`,
      });
    }
    if (cfg.model.dModel % cfg.model.heads !== 0) {
      ctx.addIssue({ code: 'custom', path: ['model', 'heads'], message: `must divide model.dModel (${cfg.model.dModel}), got ${cfg.model.heads}` });
    }
    if (cfg.task.kind === 'lookup' && cfg.task.slots > cfg.task.keyVocab) {
      ctx.addIssue({
        code: 'custom',
        path: ['task', 'slots'],
        message: `must be ≤ task.keyVocab (${cfg.task.keyVocab}) so keys are distinct, got ${cfg.task.slots}`,
      });
    }
    if (cfg.task.kind === 'mqar') {
      const { pairs, queries, keyVocab } = cfg.task;
      if (queries > pairs) {
        ctx.addIssue({
          code: 'custom',
          path: ['task', 'queries'],
          message: `must be ≤ task.pairs (${pairs}): each query asks a different pair, got ${queries}`,
        });
      }
      if (pairs > keyVocab) {
        ctx.addIssue({
          code: 'custom',
          path: ['task', 'pairs'],
          message: `must be ≤ task.keyVocab (${keyVocab}) so keys are distinct, got ${pairs}`,
        });
      }
    }
    if (userTask) return; // its positions are known once the module is loaded (src/extend/load.ts checks them with stepSizeFault)
    const positions = { lookup: cfg.task.slots + 1, copy: 2 * cfg.task.length, mqar: 2 * cfg.task.pairs + cfg.task.queries }[
      cfg.task.kind as (typeof BUILTIN_TASKS)[number]
    ];
    const fault = stepSizeFault(cfg, positions);
    if (fault) ctx.addIssue({ code: 'custom', path: ['train', 'batchSize'], message: fault });
  });

/** Whether one batched step of this config over `positions` positions would not fit in memory: the reason, or null. */
export function stepSizeFault(cfg: Pick<Config, 'train' | 'eval' | 'model'>, positions: number): string | null {
  const floats = Math.max(cfg.train.batchSize, cfg.eval.size) * positions * (positions + 8 * cfg.model.dModel + 64);
  if (floats <= MAX_STEP_FLOATS) return null;
  return (
    `one step would need about ${((floats * 4) / 2 ** 30).toFixed(1)} GiB of activations; reduce train.batchSize, ` +
    `eval.size, the sequence or model.dModel`
  );
}

export type Config = z.infer<typeof configSchema>;

/**
 * Settings that are valid but probably not what was meant, one line each; commands print them and go on.
 * A one-layer MQAR model cannot read a value that sits after its key (src/tasks/mqar.ts), but it is a
 * legitimate control, so it is warned about, not refused.
 */
export function configWarnings(cfg: Config): string[] {
  const warnings: string[] = [];
  if (cfg.task.kind === 'mqar' && cfg.model.layers < 2) {
    warnings.push(
      'task.kind mqar with model.layers 1: one causal layer cannot bring a key to its value, so it can at best guess among ' +
        'the values in context (a control); use model.layers 2 to learn the task',
    );
  }
  return warnings;
}

/** The config without what may differ inside one batched group: name, seed and learning rate. */
export function shapeKey(cfg: Config): string {
  const { name: _name, ...rest } = cfg;
  return JSON.stringify({ ...rest, train: { ...rest.train, seed: 0, lr: 0 } });
}

/** Reads a YAML or JSON file (JSON is YAML) into a plain object. */
export function loadConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `config file not found: ${path}` : `cannot read config file ${path}: ${code ?? String(err)}`);
  }
  const value = parseYamlText(text, path);
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new UserError(`${path}: the top level must be a mapping of keys, got ${describe(value)}`);
  if ('modules' in value) throw new UserError(`${path}: 'modules' is recorded by the kit; name a module by its path in model.attention or task.kind`);
  return anchorModulePaths(value as Record<string, unknown>, dirname(resolve(path)));
}

/** The keys whose value may be a user module's path, as a config or a sweep grid writes them. */
const MODULE_KEYS = ['model.attention', 'task.kind', 'model.variant'];

/** A module path made absolute against `dir`; anything else as it is. `model.variant` may end in +qknorm. */
function anchored(value: unknown, dir: string): unknown {
  if (typeof value !== 'string' || !isModulePath(splitQkNorm(value).variant) || isAbsolute(value)) return value;
  return resolve(dir, value);
}

/**
 * Makes the module paths a file names absolute, relative to that file's directory, as zoology resolves an
 * import path: a config, its sweep's grid and an inline base all name modules beside the file that names them.
 */
export function anchorModulePaths(values: Record<string, unknown>, dir: string): Record<string, unknown> {
  const out = { ...values };
  for (const key of MODULE_KEYS) {
    const [section, name] = key.split('.');
    const node = out[section];
    if (node && typeof node === 'object' && !Array.isArray(node) && name in node) {
      out[section] = { ...node, [name]: anchored((node as Record<string, unknown>)[name], dir) };
    }
  }
  const grid = out.grid;
  if (grid && typeof grid === 'object' && !Array.isArray(grid)) {
    out.grid = Object.fromEntries(
      Object.entries(grid).map(([k, list]) => [k, MODULE_KEYS.includes(k) && Array.isArray(list) ? list.map((v) => anchored(v, dir)) : list]),
    );
  }
  if (out.base && typeof out.base === 'object' && !Array.isArray(out.base)) out.base = anchorModulePaths(out.base as Record<string, unknown>, dir);
  return out;
}

export function parseYamlText(text: string, source: string): unknown {
  try {
    return parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const where = err.linePos?.[0] ? ` (line ${err.linePos[0].line}, column ${err.linePos[0].col})` : '';
      throw new UserError(`${source}: malformed YAML${where}: ${err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    throw new UserError(`${source}: malformed YAML: ${String(err)}`);
  }
}

/** Applies `a.b=c` overrides to a copy of `base`; values are parsed as YAML scalars, so `1e-3` is a number. */
export function applyOverrides(base: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const out = structuredClone(base);
  for (const assignment of sets) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new UserError(`--set expects key.path=value, got '${assignment}'`);
    const key = assignment.slice(0, eq).trim();
    const value = parseYamlText(assignment.slice(eq + 1), `--set ${key}`);
    // A module named on the command line is found from where it was typed.
    setPath(out, key, MODULE_KEYS.includes(key) ? anchored(value, process.cwd()) : value, '--set');
  }
  return out;
}

/** Sets a dotted key path in place, creating sections on the way; `source` names the origin in errors. */
export function setPath(target: Record<string, unknown>, dotted: string, value: unknown, source: string): void {
  const path = dotted.split('.');
  if (path.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) {
    throw new UserError(`${source}: invalid key path '${dotted}'`);
  }
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new UserError(`${source} ${dotted}: '${key}' is not a section`);
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** defaults ← file ← overrides, validated. Pure: the same inputs always give the same Config. */
export function resolveConfig(fileValues: Record<string, unknown>, sets: readonly string[] = []): Config {
  return validate(configSchema, applyOverrides(fileValues, sets));
}

/** Validates against any zod schema, turning the first issue into a one-line UserError naming the path. */
export function validate<S extends z.ZodTypeAny>(schema: S, value: unknown, prefix = ''): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  // An unknown key usually explains the other issues (a misspelt section is also "missing"), so it goes first.
  const issues = result.error.issues;
  throw new UserError(formatIssue(schema, issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0], value, prefix));
}

function formatIssue(schema: z.ZodTypeAny, issue: z.ZodIssue, value: unknown, prefix: string): string {
  const at = (path: (string | number)[]) => [prefix, ...path.map(String)].filter(Boolean).join('.') || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const valid = keysAt(schema, issue.path);
    const hint = valid.length ? `; did you mean '${[prefix, ...issue.path, closest(key, valid)].filter(Boolean).join('.')}'?` : '';
    return `unknown config key '${at([...issue.path, key])}'${hint}`;
  }
  const got = valueAt(value, issue.path);
  // zod's own enum message already says what it received; one clean sentence instead of saying it twice.
  if (issue.code === 'invalid_enum_value') {
    const options = issue.options.map(String);
    const hint = typeof got === 'string' ? `; did you mean '${closest(got, options)}'?` : '';
    return `config key '${at(issue.path)}': must be one of ${options.map((o) => `'${o}'`).join(', ')}, got ${describe(got)}${hint}`;
  }
  const gotText = got === undefined ? '' : ` (got ${describe(got)})`;
  return `config key '${at(issue.path)}': ${issue.message}${issue.code === 'custom' ? '' : gotText}`;
}

/** The valid keys of the object schema found at `path`, for "did you mean". */
function keysAt(schema: z.ZodTypeAny, path: (string | number)[]): string[] {
  let node: z.ZodTypeAny | undefined = schema;
  for (const key of [...path, null]) {
    while (node instanceof z.ZodDefault || node instanceof z.ZodEffects || node instanceof z.ZodOptional) {
      node = node instanceof z.ZodDefault ? node._def.innerType : node instanceof z.ZodEffects ? node._def.schema : node.unwrap();
    }
    if (!(node instanceof z.ZodObject)) return [];
    if (key === null) return Object.keys(node.shape);
    node = node.shape[key] as z.ZodTypeAny | undefined;
  }
  return [];
}

function valueAt(value: unknown, path: (string | number)[]): unknown {
  let node = value;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
