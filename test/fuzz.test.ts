/**
 * Malformed input through the CLI. Every case runs in a fresh temp dir as cwd and must end the same way: exit 2,
 * exactly one non-empty line on stderr naming the problem, no stack trace, no run directory printed or left
 * behind, and no hang. Cases given a run directory to --resume (or to compare) must also leave every byte of it
 * as it was: a failed command must not damage a run.
 *
 * Most cases call `main` from src/cli.ts in this process (test/helpers/inProcess.ts): a refusal ends before any
 * training, so a process per case only paid start-up. The cases in SUBPROCESS run the built executable
 * (`node dist/cli.js`; `npm test` builds it), and each of them is also run in-process, which must print the
 * same line with the same exit code: the in-process cases stand for the executable only because of that.
 *
 * The cases run two at a time from one queue started in beforeAll; each `it` awaits its own case's outcome and
 * checks it with soft assertions, so a failure lists every way the case went wrong, not just the first.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../src/runs/safetensors.js';
import { LOOKUP, REPO, explain, expectOneLineError as expectOneLine, runCli, useTempRoot, type Result } from './helpers/cli.js';
import { runInProcess } from './helpers/inProcess.js';

/** A case still running after this long is killed and fails as a hang. */
const KILL_AFTER = 60_000;
const PARALLEL = 2;

/** Runs the CLI asynchronously in `cwd`, killing it after KILL_AFTER ms (`killed` then says so). */
const cli = (args: string[], cwd: string) => runCli(args, cwd, { killAfterMs: KILL_AFTER });

/** The shared one-line error checks, all soft, and: the line says something, ends with a newline, names the program. */
function expectOneLineError(r: Result): void {
  expectOneLine(r, { soft: true });
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect.soft((lines[0] ?? '').trim(), 'the line must say something').not.toBe('');
  expect.soft(r.stderr.endsWith('\n'), 'the line ends with a newline').toBe(true);
  expect.soft(r.stderr).toMatch(/^qkv-lab: \S/);
}

/** Every file under `dir` by relative path, as raw bytes (hex, so a diff is readable and exact). */
function snapshot(dir: string): Record<string, string> {
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f)).toString('hex')]));
}

const fresh = useTempRoot('qkv-fuzz-');
/** A finished short run, made once (started from beforeAll, as the queue's second job); resume and compare cases copy it. */
let good: string;

// ---------------------------------------------------------------------------------------------------------------
// The cases

interface Ctx {
  cwd: string;
  /** The --out path most cases pass: <cwd>/out/run. */
  out: string;
}

interface Case {
  name: string;
  /** Files to create in the fresh cwd before running. */
  setup?: (ctx: Ctx) => void;
  args: (ctx: Ctx) => string[];
  /** The message must name the problem. */
  pattern: RegExp;
  /** The run directory this case must not create, when not <cwd>/out/run. */
  out?: (ctx: Ctx) => string;
  /** Directories that exist before the command and must keep every byte (a resumed run, a compared run). */
  untouched?: (ctx: Ctx) => string[];
}

const yamlFile = (text: string) => (ctx: Ctx) => writeFileSync(join(ctx.cwd, 'c.yaml'), text);
/** `train c.yaml --out <out>` with c.yaml holding `text`. */
const yamlCase = (name: string, text: string, pattern: RegExp): Case => ({
  name,
  setup: yamlFile(text),
  args: ({ out }) => ['train', 'c.yaml', '--out', out],
  pattern,
});
/** `train configs/lookup.yaml <extra> --out <out>`. */
const lookupCase = (name: string, extra: string[], pattern: RegExp): Case => ({
  name,
  args: ({ out }) => ['train', LOOKUP, ...extra, '--out', out],
  pattern,
});

/** A copy of the good run at <cwd>/run, marked unfinished so that resume reaches its checkpoint. */
function copyRun(ctx: Ctx, status = 'interrupted'): string {
  const dir = join(ctx.cwd, 'run');
  cpSync(good, dir, { recursive: true });
  writeFileSync(join(dir, 'status'), status + '\n');
  return dir;
}
const tensorFile = (dir: string) => {
  const meta = JSON.parse(readFileSync(join(dir, 'checkpoint', 'checkpoint.json'), 'utf8')) as { file: string };
  return join(dir, 'checkpoint', meta.file);
};
const resumeCase = (name: string, corrupt: (dir: string, ctx: Ctx) => void, pattern: RegExp, status = 'interrupted'): Case => ({
  name,
  setup: (ctx) => corrupt(copyRun(ctx, status), ctx),
  args: ({ cwd }) => ['train', '--resume', join(cwd, 'run')],
  pattern,
  untouched: ({ cwd }) => [join(cwd, 'run')],
});

/** A sweep file s.yaml over configs/lookup.yaml with the given grid lines. */
const sweepFile = (grid: string) => (ctx: Ctx) => writeFileSync(join(ctx.cwd, 's.yaml'), `name: s\nbase: ${JSON.stringify(LOOKUP)}\ngrid:${grid}\n`);
const sweepCase = (name: string, grid: string, extra: string[], pattern: RegExp): Case => ({
  name,
  setup: sweepFile(grid),
  args: ({ out }) => ['sweep', 's.yaml', ...extra, '--out', out],
  pattern,
});

const cases: Case[] = [
  // First, so that a hang here overlaps the rest of the queue instead of adding to it.
  {
    name: '--out somewhere that cannot be created (/proc/qkv-lab-test/x)',
    args: () => ['train', LOOKUP, '--set', 'train.steps=5', '--out', '/proc/qkv-lab-test/x'],
    pattern: /\/proc\/qkv-lab-test/,
    out: () => '/proc/qkv-lab-test/x',
  },

  // Garbage YAML and wrong shapes of the document
  yamlCase('YAML garbage ": : :"', ': : :\n', /c\.yaml: malformed YAML/),
  yamlCase('YAML with an unclosed [', 'name: broken\ntrain:\n  lr: [1, 2\n  steps: 3\n', /c\.yaml: malformed YAML \(line \d+/),
  yamlCase('YAML indented with a tab', 'train:\n\tsteps: 3\n', /c\.yaml: malformed YAML.*[Tt]ab/),
  yamlCase('YAML with a duplicate key', 'train:\n  lr: 0.01\n  lr: 0.02\n', /c\.yaml: malformed YAML.*unique/),
  yamlCase('a top-level list', '- 1\n- 2\n', /c\.yaml: the top level must be a mapping.*list/),
  yamlCase('a top-level scalar', '42\n', /c\.yaml: the top level must be a mapping.*42/),
  yamlCase('train: 5', 'train: 5\n', /config key 'train'/),

  // Wrong types and non-finite numbers
  yamlCase('train.steps: "many"', 'train:\n  steps: "many"\n', /config key 'train\.steps'.*many/),
  yamlCase('name: 123', 'name: 123\n', /config key 'name'/),
  yamlCase('train.lr: .nan', 'train:\n  lr: .nan\n', /config key 'train\.lr'.*nan/i),
  yamlCase('train.lr: .inf', 'train:\n  lr: .inf\n', /config key 'train\.lr'/),

  // Negative, zero and fractional values
  yamlCase('train.lr: -1', 'train:\n  lr: -1\n', /config key 'train\.lr'/),
  yamlCase('train.warmup: -5', 'train:\n  warmup: -5\n', /config key 'train\.warmup'/),
  yamlCase('model.embStd: -1', 'model:\n  embStd: -1\n', /config key 'model\.embStd'/),
  yamlCase('eval.seed: -1', 'eval:\n  seed: -1\n', /config key 'eval\.seed'/),
  yamlCase('train.lr: 0', 'train:\n  lr: 0\n', /config key 'train\.lr'/),
  yamlCase('train.batchSize: 0', 'train:\n  batchSize: 0\n', /config key 'train\.batchSize'/),
  yamlCase('train.logEvery: 0', 'train:\n  logEvery: 0\n', /config key 'train\.logEvery'/),
  yamlCase('model.layers: 0', 'model:\n  layers: 0\n', /config key 'model\.layers'/),
  yamlCase('train.batchSize: 2.5', 'train:\n  batchSize: 2.5\n', /config key 'train\.batchSize'.*integer/),
  yamlCase('train.seed: 1.5', 'train:\n  seed: 1.5\n', /config key 'train\.seed'.*integer/),
  yamlCase('train.steps: 1e12', 'train:\n  steps: 1e12\n', /config key 'train\.steps'/),

  // Values valid alone but not together, or too large for memory
  yamlCase('model.dModel 6 with heads 4', 'model:\n  dModel: 6\n  heads: 4\n', /config key 'model\.heads'.*dModel/),
  yamlCase('task.slots 20 with keyVocab 16', 'task:\n  slots: 20\n  keyVocab: 16\n', /config key 'task\.slots'.*keyVocab/),
  yamlCase('256 slots, keyVocab 1024, eval.size 100000 (memory)', 'task:\n  slots: 256\n  keyVocab: 1024\neval:\n  size: 100000\n', /GiB|memory/i),
  yamlCase('dModel 1024 with batchSize 65536 (memory)', 'model:\n  dModel: 1024\ntrain:\n  batchSize: 65536\n', /GiB|memory/i),

  // Unknown keys, enum values and names
  yamlCase('unknown section "modle"', 'modle:\n  dModel: 8\n', /unknown config key 'modle'.*'model'/),
  yamlCase('unknown key train.lrr', 'train:\n  lrr: 0.01\n', /unknown config key 'train\.lrr'.*'train\.lr'/),
  yamlCase('model.attention: qk', 'model:\n  attention: qk\n', /config key 'model\.attention'.*qkv/),
  yamlCase('task.kind: sort', 'task:\n  kind: sort\n', /config key 'task\.kind'.*lookup/),
  yamlCase('name: "a/b"', 'name: "a/b"\n', /config key 'name'/),

  // --set forms
  lookupCase('--set train.lr (no =)', ['--set', 'train.lr'], /--set expects key\.path=value.*train\.lr/),
  lookupCase('--set train.lr=abc', ['--set', 'train.lr=abc'], /config key 'train\.lr'.*abc/),
  lookupCase('--set =3', ['--set', '=3'], /--set expects key\.path=value.*=3/),
  lookupCase('--set model.attention=qk', ['--set', 'model.attention=qk'], /config key 'model\.attention'/),
  lookupCase('--set train.lr.x=1', ['--set', 'train.lr.x=1'], /train\.lr\.x.*not a section/),
  lookupCase('--set __proto__.polluted=1', ['--set', '__proto__.polluted=1'], /invalid key path '__proto__\.polluted'/),

  // Other flags and commands
  lookupCase('--seeds 1,x', ['--seeds', '1,x'], /--seeds.*1,x/),
  lookupCase('--seeds 1,1', ['--seeds', '1,1'], /--seeds.*twice/),
  lookupCase('--backend gpu', ['--backend', 'gpu'], /backend.*gpu/),
  lookupCase('--bogus', ['--bogus'], /^qkv-lab: unknown flag --bogus \(see --help\)\n$/),
  lookupCase('--seed 3 (a typo of --seeds)', ['--seed', '3'], /unknown flag --seed; did you mean --seeds\?/),
  { name: 'an unknown command', args: () => ['trian', LOOKUP], pattern: /unknown command.*train/ },
  { name: 'a missing config file', args: ({ cwd, out }) => ['train', join(cwd, 'nope.yaml'), '--out', out], pattern: /not found.*nope\.yaml/ },
  {
    name: 'a directory as the config',
    setup: ({ cwd }) => mkdirSync(join(cwd, 'cfgdir')),
    args: ({ cwd, out }) => ['train', join(cwd, 'cfgdir'), '--out', out],
    pattern: /cfgdir.*EISDIR|EISDIR.*cfgdir/,
  },
  {
    name: '--out under an existing regular file',
    setup: ({ cwd }) => writeFileSync(join(cwd, 'afile'), 'not a directory\n'),
    args: ({ cwd }) => ['train', LOOKUP, '--set', 'train.steps=5', '--out', join(cwd, 'afile', 'run')],
    pattern: /afile/,
    out: ({ cwd }) => join(cwd, 'afile', 'run'),
  },
  {
    name: '--data-dir that is a regular file',
    setup: ({ cwd }) => writeFileSync(join(cwd, 'afile'), 'not a directory\n'),
    args: ({ cwd, out }) => ['train', LOOKUP, '--set', 'train.steps=5', '--data-dir', join(cwd, 'afile'), '--out', out],
    pattern: /afile/,
  },

  // --resume
  {
    name: '--resume of a missing directory',
    args: ({ cwd }) => ['train', '--resume', join(cwd, 'missing-run')],
    pattern: /--resume.*missing-run/,
  },
  resumeCase(
    '--resume with a corrupt config.json',
    (dir) => writeFileSync(join(dir, 'config.json'), '{"name": "lookup", "train": {'),
    /config\.json.*not valid JSON/,
  ),
  resumeCase(
    '--resume with a config.json that is JSON but not a config',
    (dir) => writeFileSync(join(dir, 'config.json'), '{"train": 5}\n'),
    /config key 'train'/,
  ),
  resumeCase(
    '--resume with a garbage checkpoint/checkpoint.json',
    (dir) => writeFileSync(join(dir, 'checkpoint', 'checkpoint.json'), 'garbage!!\n'),
    /checkpoint/,
  ),
  resumeCase(
    '--resume with a truncated safetensors file',
    (dir) => {
      const file = tensorFile(dir);
      truncateSync(file, Math.floor(statSync(file).size / 2));
    },
    /checkpoint is corrupt/,
  ),
  resumeCase(
    '--resume with a checkpoint lacking the Adam second moments',
    (dir) => {
      const file = tensorFile(dir);
      const { tensors, metadata } = decodeSafetensors(readFileSync(file));
      for (const name of [...tensors.keys()]) if (name.startsWith('adam_v/')) tensors.delete(name);
      writeFileSync(file, encodeSafetensors(tensors, metadata));
    },
    /checkpoint/,
  ),
  resumeCase(
    '--resume with a corrupt eval set in data/',
    (_dir, { cwd }) => {
      mkdirSync(join(cwd, 'data'));
      writeFileSync(join(cwd, 'data', 'lookup-s8-k16-v16-n32-seed1234.jsonl'), 'garbage\n'); // the good run's eval.size is 32
    },
    /lookup-s8-k16-v16-n32-seed1234\.jsonl.*not JSON/,
  ),
  resumeCase('--resume of a run that already completed', () => {}, /already finished/, 'completed'),
  {
    name: '--resume together with a config argument',
    setup: (ctx) => void copyRun(ctx),
    args: ({ cwd }) => ['train', LOOKUP, '--resume', join(cwd, 'run')],
    pattern: /--resume takes the run directory only/,
    untouched: ({ cwd }) => [join(cwd, 'run')],
  },

  // Sweeps
  sweepCase('a sweep with an empty grid', ' {}', [], /grid is empty/),
  sweepCase('a sweep grid value that is not a list', '\n  train.lr: 0.1', [], /grid\.train\.lr.*list/),
  sweepCase('a sweep grid with an unknown key', '\n  train.lrr: [0.1, 0.2]', [], /train\.lrr/),
  sweepCase('a sweep grid listing a value twice', '\n  train.lr: [0.1, 0.1]', [], /grid\.train\.lr.*twice/),
  sweepCase('a sweep with --workers 0', '\n  train.seed: [0, 1]', ['--workers', '0'], /--workers/),
  sweepCase('a sweep with --shard 3/2', '\n  train.seed: [0, 1]', ['--shard', '3/2'], /--shard.*3\/2/),
  sweepCase('a sweep with --seeds that repeats a seed', '\n  train.seed: [0, 1]', ['--seeds', '0-4,3'], /--seeds lists seed 3 twice/),
  {
    name: 'an ablation with a malformed --seeds range',
    args: ({ out }) => ['ablation', join(REPO, 'configs', 'ablation.yaml'), '--seeds', '0-x', '--out', out],
    pattern: /--seeds expects seeds and ranges.*0-x/,
  },
  {
    name: 'claims with an empty --seeds set (a downward range)',
    args: ({ out }) => ['claims', join(REPO, 'configs', 'claims.yaml'), '--seeds', '19-0', '--out', out],
    pattern: /--seeds: the range '19-0' is empty/,
  },
  {
    name: 'a sweep with --out under an existing regular file',
    setup: (ctx) => {
      sweepFile('\n  train.seed: [0]')(ctx);
      writeFileSync(join(ctx.cwd, 'afile'), 'not a directory\n');
    },
    args: ({ cwd }) => ['sweep', 's.yaml', '--set', 'train.steps=5', '--out', join(cwd, 'afile', 'runs')],
    pattern: /afile/,
    out: ({ cwd }) => join(cwd, 'afile', 'runs'),
  },

  // compare
  { name: 'compare of a missing path', args: ({ cwd }) => ['compare', join(cwd, 'nope')], pattern: /nope/, out: ({ cwd }) => join(cwd, 'report') },
  {
    name: 'compare with --out under an existing regular file',
    setup: ({ cwd }) => {
      cpSync(good, join(cwd, 'good'), { recursive: true });
      writeFileSync(join(cwd, 'afile'), 'not a directory\n');
    },
    args: ({ cwd }) => ['compare', join(cwd, 'good'), '--out', join(cwd, 'afile', 'report')],
    pattern: /afile/,
    out: ({ cwd }) => join(cwd, 'afile', 'report'),
    untouched: ({ cwd }) => [join(cwd, 'good')],
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Running them: a queue of PARALLEL workers, one promise per case

/** The cases that run the built executable: one of each kind (YAML, flags, resume, sweep seeds, compare, the file system). */
const SUBPROCESS = new Set([
  'YAML with an unclosed [',
  'an unknown command',
  '--out somewhere that cannot be created (/proc/qkv-lab-test/x)',
  '--resume with a truncated safetensors file',
  'an ablation with a malformed --seeds range',
  'compare of a missing path',
]);

interface Outcome {
  ctx: Ctx;
  result: Result;
  /** For a SUBPROCESS case: the same case run again in-process, in its own fresh directory. */
  twin?: { ctx: Ctx; result: Result };
  before: Record<string, Record<string, string>>;
  after: Record<string, Record<string, string> | null>;
  outExists: boolean;
  outParentExists: boolean;
  runsExists: boolean;
}

function caseDir(c: Case): Ctx {
  const cwd = fresh(c.name.replace(/\W+/g, '-').slice(0, 40));
  return { cwd, out: join(cwd, 'out', 'run') };
}

async function runCase(c: Case): Promise<Outcome> {
  const ctx = caseDir(c);
  const { cwd } = ctx;
  c.setup?.(ctx);
  const keep = c.untouched?.(ctx) ?? [];
  const before = Object.fromEntries(keep.map((d) => [d, snapshot(d)]));
  const result = SUBPROCESS.has(c.name) ? await cli(c.args(ctx), cwd) : await runInProcess(c.args(ctx), cwd);
  const after = Object.fromEntries(keep.map((d) => [d, existsSync(d) ? snapshot(d) : null]));
  const out = c.out?.(ctx) ?? ctx.out;
  let twin: Outcome['twin'];
  if (SUBPROCESS.has(c.name)) {
    const twinCtx = caseDir(c);
    c.setup?.(twinCtx);
    c.untouched?.(twinCtx);
    twin = { ctx: twinCtx, result: await runInProcess(c.args(twinCtx), twinCtx.cwd) };
  }
  return {
    ctx,
    result,
    twin,
    before,
    after,
    outExists: existsSync(out),
    outParentExists: c.out ? false : existsSync(join(cwd, 'out')),
    runsExists: existsSync(join(cwd, 'runs')),
  };
}

const outcomes = new Map<string, Promise<Outcome>>();
/** Settles when the reference run exists; cases that copy it wait for it. */
let goodReady: Promise<void>;

/** `train configs/lookup.yaml` for 20 steps into `good`: the run that resume and compare cases copy. */
async function makeGoodRun(): Promise<void> {
  const r = await cli(['train', LOOKUP, '--set', 'train.steps=20', '--set', 'train.logEvery=10', '--set', 'eval.size=32', '--out', good], fresh.root);
  if (r.status !== 0) throw new Error(`the reference run failed:\n${explain(r)}`);
  if (!existsSync(join(good, 'checkpoint', 'checkpoint.json'))) throw new Error('the reference run has no checkpoint');
}

/** One queue, PARALLEL processes at a time: the first case, then the reference run, then the other cases in order. */
function startQueue(): void {
  let readyGood!: () => void;
  let failGood!: (e: unknown) => void;
  goodReady = new Promise<void>((resolve, reject) => ((readyGood = resolve), (failGood = reject)));
  goodReady.catch(() => {});
  const jobs: (() => Promise<void>)[] = [];
  for (const c of cases) {
    let settle!: { resolve: (o: Outcome) => void; reject: (e: unknown) => void };
    const p = new Promise<Outcome>((resolve, reject) => (settle = { resolve, reject }));
    p.catch(() => {}); // reported by the case's own test
    outcomes.set(c.name, p);
    jobs.push(async () => {
      // Every case that copies the reference run declares it untouched; if that run failed, so do they.
      await (c.untouched ? goodReady : Promise.resolve()).then(() => runCase(c)).then(settle.resolve, settle.reject);
    });
  }
  jobs.splice(1, 0, () => makeGoodRun().then(readyGood, failGood));
  const worker = async () => {
    for (let job = jobs.shift(); job; job = jobs.shift()) await job().catch(() => {});
  };
  for (let i = 0; i < PARALLEL; i++) void worker();
}

// After useTempRoot's beforeAll, which made the root.
beforeAll(() => {
  good = join(fresh.root, 'good');
  startQueue();
});

describe('malformed input: exit 2, one line naming the problem, no stack, no run directory, no hang', () => {
  it('has at least 45 distinct cases, reaching every command that reads input, a handful through the executable', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    const ctx: Ctx = { cwd: '/cwd', out: '/cwd/out/run' };
    const commands = new Set(cases.map((c) => (c.args(ctx).includes('--resume') ? 'train --resume' : c.args(ctx)[0])));
    for (const command of ['train', 'train --resume', 'sweep', 'ablation', 'claims', 'compare']) expect(commands, command).toContain(command);
    expect(cases.filter((c) => SUBPROCESS.has(c.name))).toHaveLength(SUBPROCESS.size); // no name in SUBPROCESS is a typo
  });

  it.each([...SUBPROCESS].map((name) => [name] as const))(
    'in-process main says what the executable says: %s',
    async (name) => {
      const o = await outcomes.get(name)!;
      const said = (r: Result, cwd: string) => ({
        status: r.status,
        stderr: r.stderr.split(cwd).join('<cwd>'),
        stdout: r.stdout.split(cwd).join('<cwd>'),
      });
      expect(o.twin, 'a subprocess case is also run in-process').toBeDefined();
      expect(said(o.twin!.result, o.twin!.ctx.cwd)).toEqual(said(o.result, o.ctx.cwd));
    },
    2 * KILL_AFTER + 30_000,
  );

  it.each(cases.map((c) => [c.name, c] as const))(
    '%s',
    async (_name, c) => {
      const o = await outcomes.get(c.name)!;
      const r = o.result;
      expect(r.killed, `still running after ${KILL_AFTER / 1000} s: killed (hang)\n${explain(r)}`).toBe(false);
      expect.soft(r.status, explain(r)).toBe(2);
      expectOneLineError(r);
      expect.soft(r.stderr, 'the message names the problem').toMatch(c.pattern);
      expect.soft(r.stdout, 'no run directory on stdout').not.toContain(fresh.root);
      expect.soft(r.stdout).not.toMatch(/runs\/|completed|interrupted/);
      expect.soft(o.outExists, 'the run directory must not be created').toBe(false);
      expect.soft(o.outParentExists, 'nothing under the --out parent either').toBe(false);
      expect.soft(o.runsExists, '<cwd>/runs must not be created').toBe(false);
      for (const [dir, files] of Object.entries(o.before)) {
        const now = o.after[dir];
        expect.soft(now, `${dir} must still exist`).not.toBeNull();
        expect.soft(Object.keys(now ?? {}), `${dir}: the same files, none added or removed`).toEqual(Object.keys(files));
        for (const [file, bytes] of Object.entries(files)) expect.soft(now?.[file] === bytes, `${dir}/${file} must keep its bytes`).toBe(true);
      }
    },
    2 * KILL_AFTER + 30_000,
  );
});
