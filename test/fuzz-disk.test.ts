/**
 * Damaged run directories through the CLI, as test/fuzz.test.ts does for configs: each file of a run
 * (config.json, metrics.csv, summary.json, attention.json, status, checkpoint/checkpoint.json, the newest and
 * the previous checkpoint) is truncated, overwritten with garbage, given wrong types, emptied or removed. Then
 * `train --resume` runs on one copy and `compare` on another. Every case must end in a clean resume (bit-identical
 * to the uninterrupted run, timing columns aside), a named skip, or one line with exit 1 or 2 — never a stack
 * trace, a hang, or a change to another run's files.
 *
 * One tiny finished run (20 steps, checkpoints at 10 and 20; test/globalSetup.ts trains it) is copied per case. A resume
 * calls `main` in this process (test/helpers/inProcess.ts): it trains at most ten steps, so a process of its own would
 * cost more than the case; the few in SUBPROCESS, refusals and resumes that train, run `node dist/cli.js`, keeping the
 * executable's exit code and line under test. The resume cases
 * run two at a time from a queue; the compare copies all sit in one folder, so a single `compare` covers them
 * (one damaged run among many, as on a shared disk), and each case checks its own warning line.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { decodeSafetensors, encodeSafetensors } from '../src/runs/safetensors.js';
import { explain, runCli, useTempRoot, type Result } from './helpers/cli.js';
import { runInProcess } from './helpers/inProcess.js';
import { metricsWithoutTiming } from './helpers/runFiles.js';

const KILL_AFTER = 60_000;
const PARALLEL = 2;
const cli = (args: string[], cwd: string) => runCli(args, cwd, { killAfterMs: KILL_AFTER });

const fresh = useTempRoot('qkv-fuzz-disk-');
/** The finished template run every case copies. */
let template: string;

// ---------------------------------------------------------------------------------------------------------------
// Damage

type Damage = (path: string) => void;
/** Half the file, cut inside a line (a copy or a write cut short). */
const truncate: Damage = (path) => {
  const bytes = readFileSync(path);
  let at = Math.floor(bytes.length / 2);
  while (at > 1 && bytes[at - 1] === 0x0a) at--; // never exactly at a line end
  truncateSync(path, at);
};
/** Deterministic binary garbage: not JSON, not CSV, no final newline. */
const garbage: Damage = (path) => {
  let x = 12345;
  const bytes = Buffer.alloc(300, 0).map(() => ((x = (x * 1103515245 + 12345) & 0x7fffffff), (x >> 16) & 0xff));
  bytes[bytes.length - 1] = 0x7f;
  writeFileSync(path, bytes);
};
const empty: Damage = (path) => writeFileSync(path, '');
const missing: Damage = (path) => rmSync(path);
/** A directory where the file belongs (a botched copy or restore). */
const directory: Damage = (path) => (rmSync(path), mkdirSync(path));
/** JSON that parses but has a field of the wrong type. */
const jsonField =
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the edits reach into parsed JSON of any shape
  (edit: (value: any) => void): Damage =>
    (path) => {
      const value = JSON.parse(readFileSync(path, 'utf8'));
      edit(value);
      writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
    };
/** metrics.csv with one cell of the row at `line` (1 = header) replaced. */
const csvCell =
  (line: number, column: string, cell: string): Damage =>
  (path) => {
    const lines = readFileSync(path, 'utf8').split('\n');
    const j = lines[0].split(',').indexOf(column);
    const cells = lines[line - 1].split(',');
    cells[j] = cell;
    lines[line - 1] = cells.join(',');
    writeFileSync(path, lines.join('\n'));
  };
const csvDropLine =
  (line: number): Damage =>
  (path) => {
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.splice(line - 1, 1);
    writeFileSync(path, lines.join('\n'));
  };
const cutEnd =
  (bytes: number): Damage =>
  (path) =>
    truncateSync(path, statSync(path).size - bytes);

const checkpointJson = (dir: string) => join(dir, 'checkpoint', 'checkpoint.json');
const newest = (dir: string) => join(dir, 'checkpoint', JSON.parse(readFileSync(checkpointJson(dir), 'utf8')).file);
const previous = (dir: string) => join(dir, 'checkpoint', JSON.parse(readFileSync(checkpointJson(dir), 'utf8')).previous.file);

/** The newest checkpoint re-encoded without the Adam second moments, with checkpoint.json updated to match: intact, but not this model's. */
const withoutAdamV = (dir: string) => {
  const file = newest(dir);
  const { tensors, metadata } = decodeSafetensors(readFileSync(file));
  for (const name of [...tensors.keys()]) if (name.startsWith('adam_v/')) tensors.delete(name);
  const bytes = encodeSafetensors(tensors, metadata);
  writeFileSync(file, bytes);
  jsonField((v) => Object.assign(v, { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }))(checkpointJson(dir));
};

// ---------------------------------------------------------------------------------------------------------------
// Cases

/** What `train --resume` must do: finish cleanly (optionally saying something first), or stop with one line. */
type ResumeOutcome = { resumes: true; says?: RegExp; sameAttention?: boolean } | { exit: 1 | 2; says: RegExp };
/** What `compare` must do with the run: use it, or skip it with one warning whose reason matches. */
type CompareOutcome = 'used' | RegExp;

interface Case {
  name: string;
  /** Damages the run directory `dir` (a copy of the template). */
  damage: (dir: string) => void;
  resume: ResumeOutcome;
  compare: CompareOutcome;
}

const FALLBACK = /the checkpoint at step 20 .*; falling back to the previous one, at step 10/;
const at = (file: string, damage: Damage) => (dir: string) => damage(join(dir, file));
const clean: ResumeOutcome = { resumes: true };
const fails = (exit: 1 | 2, says: RegExp): ResumeOutcome => ({ exit, says });
const attentionNote = (says: RegExp): ResumeOutcome => ({ resumes: true, says, sameAttention: false });

const cases: Case[] = [
  // config.json: the run's identity; resume refuses, compare skips
  {
    name: 'config.json truncated',
    damage: at('config.json', truncate),
    resume: fails(2, /config\.json is not valid JSON/),
    compare: /^config\.json is not valid JSON/,
  },
  {
    name: 'config.json garbage',
    damage: at('config.json', garbage),
    resume: fails(2, /config\.json is not valid JSON/),
    compare: /^config\.json is not valid JSON/,
  },
  {
    name: 'config.json with train.steps a string',
    damage: at(
      'config.json',
      jsonField((v) => (v.train.steps = 'many')),
    ),
    resume: fails(2, /config key 'train\.steps'/),
    compare: /^config\.json is not a valid config \(config key 'train\.steps'/,
  },
  {
    name: 'config.json empty',
    damage: at('config.json', empty),
    resume: fails(2, /config\.json is not valid JSON/),
    compare: /^config\.json is empty/,
  },
  {
    name: 'config.json a directory',
    damage: at('config.json', directory),
    resume: fails(2, /config\.json is not valid JSON/),
    compare: /^config\.json cannot be read \(EISDIR\)/,
  },
  {
    name: 'config.json missing',
    damage: at('config.json', missing),
    resume: fails(2, /not a run directory \(no config\.json\)/),
    compare: /^config\.json is missing/,
  },

  // metrics.csv: rows before the checkpoint must be whole, else resume refuses; compare needs every row
  {
    name: 'metrics.csv truncated in the middle',
    damage: at('metrics.csv', truncate),
    resume: fails(2, /metrics\.csv (lacks the row for step \d+|line \d+ is malformed)/),
    compare: /^metrics\.csv is truncated/,
  },
  {
    name: 'metrics.csv with a short last line',
    damage: at('metrics.csv', cutEnd(7)),
    resume: clean,
    compare: /^metrics\.csv is truncated \(its last line is cut short\)/,
  },
  {
    name: 'metrics.csv garbage',
    damage: at('metrics.csv', garbage),
    resume: fails(2, /metrics\.csv has no header/),
    compare: /^metrics\.csv is (truncated|malformed)/,
  },
  {
    name: 'metrics.csv with eval_loss "abc" at step 5',
    damage: at('metrics.csv', csvCell(3, 'eval_loss', 'abc')),
    resume: fails(2, /metrics\.csv line 3 is malformed; it lies before the checkpoint at step 20/),
    compare: /^metrics\.csv line 3: eval_loss is 'abc', not a number/,
  },
  {
    name: 'metrics.csv without the row of step 5',
    damage: at('metrics.csv', csvDropLine(3)),
    resume: fails(2, /metrics\.csv line 3 is step 10, expected step 5/),
    compare: /^metrics\.csv line 3 is step 10, expected step 5/,
  },
  { name: 'metrics.csv empty', damage: at('metrics.csv', empty), resume: fails(2, /metrics\.csv has no header/), compare: /^metrics\.csv is empty/ },
  {
    name: 'metrics.csv a directory',
    damage: at('metrics.csv', directory),
    resume: fails(2, /metrics\.csv cannot be read \(EISDIR\); cannot resume/),
    compare: /^metrics\.csv cannot be read \(EISDIR\)/,
  },
  {
    name: 'metrics.csv missing',
    damage: at('metrics.csv', missing),
    resume: fails(2, /metrics\.csv is missing/),
    compare: /^metrics\.csv is missing/,
  },

  // summary.json: written again at the end, so resume does not need it; compare does
  { name: 'summary.json truncated', damage: at('summary.json', truncate), resume: clean, compare: /^summary\.json is not valid JSON/ },
  { name: 'summary.json garbage', damage: at('summary.json', garbage), resume: clean, compare: /^summary\.json is not valid JSON/ },
  {
    name: 'summary.json with final_eval_loss a string',
    damage: at(
      'summary.json',
      jsonField((v) => (v.final_eval_loss = 'low')),
    ),
    resume: clean,
    compare: /^summary\.json is malformed \(final_eval_loss/,
  },
  { name: 'summary.json empty', damage: at('summary.json', empty), resume: clean, compare: /^summary\.json is empty/ },
  { name: 'summary.json missing', damage: at('summary.json', missing), resume: clean, compare: /^summary\.json is missing/ },

  // attention.json: resume goes on without the snapshots before the checkpoint, and says so; compare skips
  {
    name: 'attention.json truncated',
    damage: at('attention.json', truncate),
    resume: attentionNote(/attention\.json is damaged .*; resuming without the attention snapshots before step 20/),
    compare: /^attention\.json is not valid JSON/,
  },
  {
    name: 'attention.json garbage',
    damage: at('attention.json', garbage),
    resume: attentionNote(/attention\.json is damaged/),
    compare: /^attention\.json is not valid JSON/,
  },
  {
    name: 'attention.json with snapshots a string',
    damage: at(
      'attention.json',
      jsonField((v) => (v.snapshots = 'none')),
    ),
    resume: attentionNote(/attention\.json is damaged \(no snapshots list\)/),
    compare: /^attention\.json is malformed \(snapshots/,
  },
  {
    name: 'attention.json empty',
    damage: at('attention.json', empty),
    resume: attentionNote(/attention\.json is damaged/),
    compare: /^attention\.json is empty/,
  },
  {
    name: 'attention.json missing',
    damage: at('attention.json', missing),
    resume: attentionNote(/attention\.json is missing; resuming without/),
    compare: /^attention\.json is missing/,
  },

  // status: anything but completed or diverged lets resume go on; compare needs a finished status
  {
    name: 'status truncated',
    damage: at('status', (p) => truncateSync(p, 4)),
    resume: clean,
    compare: /^status holds '(comp|inte)', not a run status/,
  },
  { name: 'status garbage', damage: at('status', garbage), resume: clean, compare: /^status holds '.*', not a run status/ },
  { name: 'status "42"', damage: at('status', (p) => writeFileSync(p, '42\n')), resume: clean, compare: /^status holds '42', not a run status/ },
  { name: 'status empty', damage: at('status', empty), resume: clean, compare: /^status is empty/ },
  { name: 'status missing', damage: at('status', missing), resume: clean, compare: /^status is missing/ },

  // checkpoint/checkpoint.json: the index of both checkpoints; without it resume refuses; compare does not read it
  {
    name: 'checkpoint.json truncated',
    damage: (d) => truncate(checkpointJson(d)),
    resume: fails(2, /the checkpoint is corrupt \(checkpoint\/checkpoint\.json/),
    compare: 'used',
  },
  {
    name: 'checkpoint.json garbage',
    damage: (d) => garbage(checkpointJson(d)),
    resume: fails(2, /the checkpoint is corrupt \(checkpoint\/checkpoint\.json/),
    compare: 'used',
  },
  {
    name: 'checkpoint.json with step a string',
    damage: (d) => jsonField((v) => (v.step = 'twenty'))(checkpointJson(d)),
    resume: fails(2, /checkpoint\/checkpoint\.json: unexpected fields/),
    compare: 'used',
  },
  {
    name: 'checkpoint.json empty',
    damage: (d) => empty(checkpointJson(d)),
    resume: fails(2, /the checkpoint is corrupt \(checkpoint\/checkpoint\.json/),
    compare: 'used',
  },
  {
    name: 'checkpoint.json missing',
    damage: (d) => missing(checkpointJson(d)),
    resume: fails(2, /has no checkpoint to resume from/),
    compare: 'used',
  },

  // the newest checkpoint: resume falls back to the previous one, says so, and still finishes bit-identically
  { name: 'newest checkpoint truncated', damage: (d) => truncate(newest(d)), resume: { resumes: true, says: FALLBACK }, compare: 'used' },
  { name: 'newest checkpoint garbage', damage: (d) => garbage(newest(d)), resume: { resumes: true, says: FALLBACK }, compare: 'used' },
  {
    name: 'newest checkpoint intact but without Adam v',
    damage: withoutAdamV,
    resume: { resumes: true, says: /at step 20 does not match config\.json \(Adam v .* is missing\); falling back to the previous one, at step 10/ },
    compare: 'used',
  },
  { name: 'newest checkpoint empty', damage: (d) => empty(newest(d)), resume: { resumes: true, says: FALLBACK }, compare: 'used' },
  {
    name: 'newest checkpoint a directory',
    damage: (d) => directory(newest(d)),
    resume: { resumes: true, says: /step-00000020\.safetensors cannot be read \(EISDIR\)\); falling back/ },
    compare: 'used',
  },
  {
    name: 'newest checkpoint missing',
    damage: (d) => missing(newest(d)),
    resume: { resumes: true, says: /step-00000020\.safetensors is missing\); falling back/ },
    compare: 'used',
  },

  // the previous checkpoint: not needed while the newest is whole
  { name: 'previous checkpoint truncated', damage: (d) => truncate(previous(d)), resume: clean, compare: 'used' },
  { name: 'previous checkpoint garbage', damage: (d) => garbage(previous(d)), resume: clean, compare: 'used' },
  { name: 'previous checkpoint empty', damage: (d) => empty(previous(d)), resume: clean, compare: 'used' },
  { name: 'previous checkpoint missing', damage: (d) => missing(previous(d)), resume: clean, compare: 'used' },

  // both checkpoints
  {
    name: 'both checkpoints damaged',
    damage: (d) => (truncate(newest(d)), garbage(previous(d))),
    resume: fails(2, /cannot resume: the checkpoint at step 20 is corrupt .*, and the previous one, at step 10, is corrupt/),
    compare: 'used',
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Running them

/** Every file under `dir` by relative path, as bytes (hex). */
function snapshot(dir: string): Record<string, string> {
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f)).toString('hex')]));
}
const slug = (name: string) => name.replace(/\W+/g, '-').slice(0, 50);
/** stderr without plain progress lines ("lookup step 5/20 …") and the "resuming … from step N" line. */
const messageLines = (r: Result) =>
  r.stderr.split('\n').filter((l) => l !== '' && !/^\S+ step \d+\/\d+ /.test(l) && !/^resuming .* from step \d+$/.test(l));

interface ResumeRun {
  dir: string;
  result: Result;
  before: Record<string, string>;
  after: Record<string, string>;
  other: { before: Record<string, string>; after: Record<string, string> };
}

/** A template copy at <cwd>/run, marked interrupted (unless the case damages status), resumed; a second copy beside it must not change. */
async function resumeCase(c: Case): Promise<ResumeRun> {
  const cwd = fresh(slug(c.name));
  const dir = join(cwd, 'run');
  cpSync(template, dir, { recursive: true });
  writeFileSync(join(dir, 'status'), 'interrupted\n');
  c.damage(dir);
  const other = join(cwd, 'other');
  cpSync(template, other, { recursive: true });
  const before = snapshot(dir);
  const otherBefore = snapshot(other);
  // In-process (test/helpers/inProcess.ts), but for a few through the executable.
  const inProcess = !SUBPROCESS.has(c.name);
  const result = inProcess ? await runInProcess(['train', '--resume', dir], cwd) : await cli(['train', '--resume', dir], cwd);
  return { dir, result, before, after: snapshot(dir), other: { before: otherBefore, after: snapshot(other) } };
}

/** Refusals and resumes that train, through the built executable. */
const SUBPROCESS = new Set([
  'config.json missing',
  'metrics.csv with eval_loss "abc" at step 5',
  'both checkpoints damaged',
  'summary.json missing',
  'status empty',
]);

const resumes = new Map<string, Promise<ResumeRun>>();
let compared: Promise<{ result: Result; folder: string; before: Record<string, string>; after: Record<string, string> }>;

/** The shared finished run (test/globalSetup.ts), checked to keep the checkpoints the cases expect. Never written to. */
async function makeTemplate(): Promise<void> {
  const { dir, printed } = inject('finishedRun');
  if (printed.status !== 0) throw new Error(`the template run failed:\n${printed.stderr}`);
  template = dir;
  const index = JSON.parse(readFileSync(checkpointJson(template), 'utf8'));
  if (index.step !== 20 || index.previous?.step !== 10)
    throw new Error(`the template run should keep checkpoints 20 and 10: ${JSON.stringify(index)}`);
}

/** One folder with a good run and every case's damaged copy (status completed unless damaged), compared once. */
async function compareAll(): Promise<{ result: Result; folder: string; before: Record<string, string>; after: Record<string, string> }> {
  const folder = join(fresh.root, 'study');
  mkdirSync(folder);
  cpSync(template, join(folder, 'good'), { recursive: true });
  for (const c of cases) {
    const dir = join(folder, slug(c.name));
    cpSync(template, dir, { recursive: true });
    c.damage(dir);
  }
  const before = snapshot(folder);
  const result = await cli(['compare', folder, '--out', join(fresh.root, 'report')], fresh.root);
  return { result, folder, before, after: snapshot(folder) };
}

beforeAll(() => {
  const ready = makeTemplate();
  ready.catch(() => {});
  compared = ready.then(compareAll);
  compared.catch(() => {});
  const queue = [...cases];
  const settle = new Map<string, { resolve: (r: ResumeRun) => void; reject: (e: unknown) => void }>();
  for (const c of cases) {
    const p = new Promise<ResumeRun>((resolve, reject) => settle.set(c.name, { resolve, reject }));
    p.catch(() => {});
    resumes.set(c.name, p);
  }
  const worker = async () => {
    await ready.catch(() => {});
    for (let c = queue.shift(); c; c = queue.shift()) {
      const s = settle.get(c.name)!;
      await ready.then(() => resumeCase(c!)).then(s.resolve, s.reject);
    }
  };
  for (let i = 0; i < PARALLEL; i++) void worker();
});

describe('damaged run files: a clean resume, a named skip, or one line with exit 1 or 2', () => {
  it(
    'has at least 40 distinct on-disk cases: every run file truncated, garbage, empty and missing, each case really changing the run',
    async () => {
      expect(cases.length).toBeGreaterThanOrEqual(40);
      expect(new Set(cases.map((c) => slug(c.name))).size).toBe(cases.length);
      const files = [
        'config.json',
        'metrics.csv',
        'summary.json',
        'attention.json',
        'status',
        'checkpoint.json',
        'newest checkpoint',
        'previous checkpoint',
      ];
      for (const file of files)
        for (const kind of ['truncated', 'garbage', 'empty', 'missing'])
          expect(
            cases.some((c) => c.name.startsWith(`${file} ${kind}`)),
            `a case named '${file} ${kind}…'`,
          ).toBe(true);
      // A damage that changed nothing would test an intact run under a damaged run's name.
      const { folder } = await compared;
      const intact = snapshot(template);
      for (const c of cases) expect.soft(snapshot(join(folder, slug(c.name))), `${c.name}: the copy differs from the intact run`).not.toEqual(intact);
    },
    2 * KILL_AFTER + 30_000,
  );

  it.each(cases.map((c) => [c.name, c] as const))(
    'train --resume: %s',
    async (_name, c) => {
      const { result: r, before, after, other } = await resumes.get(c.name)!;
      expect(r.killed, `hang: killed after ${KILL_AFTER / 1000} s\n${explain(r)}`).toBe(false);
      expect.soft(r.stderr, 'no stack trace').not.toContain('    at ');
      expect.soft(r.stderr).not.toMatch(/internal error/);
      expect.soft(other.after, "another run's files must not change").toEqual(other.before);
      const lines = messageLines(r);
      if ('exit' in c.resume) {
        expect.soft(r.status, explain(r)).toBe(c.resume.exit);
        expect.soft(lines, 'exactly one line').toHaveLength(1);
        expect.soft(lines[0] ?? '').toMatch(/^qkv-lab: /);
        expect.soft(lines[0] ?? '').toMatch(c.resume.says);
        expect.soft(after, 'a refused resume leaves every file as it was').toEqual(before);
      } else {
        expect.soft(r.status, explain(r)).toBe(0);
        expect.soft(lines, 'at most one note').toHaveLength(c.resume.says ? 1 : 0);
        if (c.resume.says) expect.soft(lines[0] ?? '').toMatch(c.resume.says);
        const run = (await resumes.get(c.name)!).dir;
        expect.soft(readFileSync(join(run, 'status'), 'utf8').trim()).toBe('completed');
        expect.soft(metricsWithoutTiming(run), 'bit-identical to the uninterrupted run, timing aside').toBe(metricsWithoutTiming(template));
        const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
        expect.soft(summary.final_eval_loss).toBe(JSON.parse(readFileSync(join(template, 'summary.json'), 'utf8')).final_eval_loss);
        if (c.resume.sameAttention !== false)
          expect.soft(readFileSync(join(run, 'attention.json'), 'utf8')).toBe(readFileSync(join(template, 'attention.json'), 'utf8'));
      }
    },
    2 * KILL_AFTER + 30_000,
  );

  it(
    'compare over one folder holding every damaged copy and a good run: exit 0, one warning per skipped run naming it, no run file changed',
    async () => {
      const { result: r, before, after } = await compared;
      expect(r.killed).toBe(false);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).not.toContain('    at ');
      expect(after).toEqual(before);
      const skipped = cases.filter((c) => c.compare !== 'used').length;
      expect(r.stdout).toContain(`computed without ${skipped} skipped`);
    },
    2 * KILL_AFTER + 30_000,
  );

  it.each(cases.map((c) => [c.name, c] as const))(
    'compare: %s',
    async (_name, c) => {
      const { result: r, folder } = await compared;
      const dir = join(folder, slug(c.name));
      const mine = r.stderr.split('\n').filter((l) => l.includes(`${dir}:`) || l.endsWith(dir) || l.includes(`${dir} (`));
      if (c.compare === 'used') {
        expect(mine, 'a run with intact report files is used, not warned about').toEqual([]);
      } else {
        expect(mine, r.stderr).toHaveLength(1);
        const prefix = `compare: warning: skipped ${dir}: `;
        expect(mine[0].startsWith(prefix), mine[0]).toBe(true);
        expect(mine[0].slice(prefix.length)).toMatch(c.compare);
      }
    },
    2 * KILL_AFTER + 30_000,
  );
});
