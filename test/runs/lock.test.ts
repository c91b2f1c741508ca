/**
 * The run lock in-process: held, released, stale and taken over, its owner file, the stale time's variable;
 * and in a child process, what each way of ending leaves behind: an exception and process.exit release it,
 * a SIGKILL leaves it stale and naming the dead holder, and a lock removed under its holder stops the holder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LOCK_DIR,
  OWNER_FILE,
  claimRuns,
  holderText,
  inspectLock,
  isLockEntry,
  lockTimes,
  releaseAll,
  tryLock,
  type LockOwner,
  type RunLock,
} from '../../src/runs/lock.js';
import { clearRunDir, createRunDir } from '../../src/runs/rundir.js';
import { UserError } from '../../src/errors.js';
import { REPO } from '../helpers/cli.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'qkv-lock-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
const runDir = () => {
  const dir = join(root, `run-${count++}`);
  mkdirSync(dir);
  return dir;
};
const owner = (dir: string): LockOwner => JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8'));

/** A lock as a holder on another machine would leave it: the directory, its owner file, and an mtime `ageMs` old. */
function foreignLock(dir: string, ageMs: number, pid = 999_999): void {
  mkdirSync(join(dir, LOCK_DIR));
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ pid, host: 'node-7', since: '2026-01-01T00:00:00.000Z', by: 'sweep' }));
  const at = new Date(Date.now() - ageMs);
  utimesSync(join(dir, LOCK_DIR), at, at);
}

async function locked(dir: string): Promise<RunLock> {
  const attempt = await tryLock(dir, 'test');
  if (attempt.kind !== 'locked') throw new Error(`expected to lock ${dir}, but it is held`);
  return attempt.lock;
}

describe('tryLock', () => {
  it('takes a free run: the lock directory, and an owner file naming this process', async () => {
    const dir = runDir();
    const attempt = await tryLock(dir, 'test');
    expect(attempt.kind).toBe('locked');
    expect(existsSync(join(dir, LOCK_DIR))).toBe(true);
    expect(owner(dir)).toMatchObject({ pid: process.pid, host: hostname(), by: 'test' });
    expect(Number.isNaN(Date.parse(owner(dir).since))).toBe(false);
    const info = inspectLock(dir)!;
    expect(info.stale).toBe(false);
    expect(info.owner?.pid).toBe(process.pid);
    if (attempt.kind === 'locked') expect(attempt.tookOver).toBeNull();
    if (attempt.kind === 'locked') attempt.lock.releaseSync();
  });

  it('a held run comes back as held, naming its holder, and is left as it was', async () => {
    const dir = runDir();
    const lock = await locked(dir);
    const second = await tryLock(dir, 'other');
    expect(second.kind).toBe('held');
    if (second.kind === 'held') {
      expect(second.info.owner).toMatchObject({ pid: process.pid, host: hostname(), by: 'test' });
      expect(second.info.stale).toBe(false);
      expect(second.info.dir).toBe(dir);
    }
    expect(owner(dir).by).toBe('test'); // the refused attempt wrote nothing
    lock.releaseSync();
  });

  it('a live lock of another process is held, whoever wrote it', async () => {
    const dir = runDir();
    foreignLock(dir, 1_000);
    const attempt = await tryLock(dir, 'test');
    expect(attempt.kind).toBe('held');
    if (attempt.kind === 'held') expect(attempt.info.owner).toMatchObject({ pid: 999_999, host: 'node-7' });
    expect(existsSync(join(dir, LOCK_DIR))).toBe(true);
  });

  it('release removes the lock and its owner file, and the run can be locked again', async () => {
    const dir = runDir();
    const lock = await locked(dir);
    lock.releaseSync();
    lock.releaseSync(); // twice is harmless
    expect(readdirSync(dir)).toEqual([]);
    expect(inspectLock(dir)).toBeNull();
    (await locked(dir)).releaseSync();
  });

  it('a stale lock (not refreshed for longer than stale) is taken over and reported with its old holder', async () => {
    const dir = runDir();
    foreignLock(dir, lockTimes().stale + 5_000);
    expect(inspectLock(dir)?.stale).toBe(true);
    const attempt = await tryLock(dir, 'test');
    expect(attempt.kind).toBe('locked');
    if (attempt.kind !== 'locked') return;
    expect(attempt.tookOver?.owner).toMatchObject({ pid: 999_999, host: 'node-7' });
    expect(attempt.tookOver!.ageMs).toBeGreaterThan(lockTimes().stale);
    expect(owner(dir).pid).toBe(process.pid); // the owner file now names the new holder
    expect(inspectLock(dir)?.stale).toBe(false);
    attempt.lock.releaseSync();
  });
});

describe('the holder is always on record', () => {
  /** A process of this machine that has ended, and this process's own record to borrow host and pid namespace from. */
  async function deadLocal(): Promise<LockOwner> {
    const c = child('process.exit(0);');
    await c.done;
    const dir = runDir();
    const lock = await locked(dir);
    const mine = owner(dir);
    lock.releaseSync();
    return { ...mine, pid: c.proc.pid!, by: 'sweep' };
  }
  const put = (path: string, record: LockOwner) => writeFileSync(path, JSON.stringify(record));

  it('killed between making the lock and renaming its candidate: the candidate names it, so it is stale at once', async () => {
    const dead = await deadLocal();
    const dir = runDir();
    mkdirSync(join(dir, LOCK_DIR));
    put(join(dir, `${OWNER_FILE}.${dead.pid}.tmp`), dead);
    expect(inspectLock(dir)).toMatchObject({ gone: true, stale: true, owner: { pid: dead.pid } });
    const attempt = await tryLock(dir, 'test');
    expect(attempt.kind).toBe('locked');
    if (attempt.kind === 'locked') attempt.lock.releaseSync();
    expect(readdirSync(dir)).toEqual([]); // the dead candidate went with the takeover
  });

  it('an owner that has ended beside a live candidate is a takeover under way: held, and the candidate is named', async () => {
    const dead = await deadLocal();
    const dir = runDir();
    mkdirSync(join(dir, LOCK_DIR));
    put(join(dir, OWNER_FILE), dead);
    put(join(dir, `${OWNER_FILE}.${process.pid}.tmp`), { ...dead, pid: process.pid, by: 'taker' });
    expect(inspectLock(dir)).toMatchObject({ gone: false, stale: false, owner: { pid: process.pid, by: 'taker' } });
  });

  it('a lock with no record at all waits for its mtime, and says its holder left no owner file', async () => {
    const dir = runDir();
    mkdirSync(join(dir, LOCK_DIR));
    const attempt = await tryLock(dir, 'test');
    expect(attempt.kind).toBe('held');
    if (attempt.kind === 'held') expect([attempt.info.owner, attempt.info.gone]).toEqual([null, false]);
    expect(holderText(null)).toBe('a process that left no owner file');
    expect(readdirSync(dir)).toEqual([LOCK_DIR]); // our candidate went with the refusal
  });
});

describe('claimRuns', () => {
  it('locks the free runs (creating missing directories), and lists the held ones without touching them', async () => {
    const free = runDir();
    const busy = runDir();
    foreignLock(busy, 1_000);
    writeFileSync(join(busy, 'metrics.csv'), 'step\n0\n');
    const missing = join(root, 'not-yet');
    const claim = await claimRuns([free, busy, missing], 'sweep');
    expect([...claim.locks.keys()]).toEqual([free, missing]);
    expect(claim.held.map((h) => h.dir)).toEqual([busy]);
    expect(claim.tookOver).toEqual([]);
    expect(readFileSync(join(busy, 'metrics.csv'), 'utf8')).toBe('step\n0\n');
    releaseAll(claim.locks.values());
    expect(existsSync(join(missing, LOCK_DIR))).toBe(false);
  });
});

describe('the run directory and its lock', () => {
  it('createRunDir accepts a directory that holds only its lock; clearRunDir keeps the lock', async () => {
    const dir = runDir();
    const lock = await locked(dir);
    expect(createRunDir(dir)).toBe(dir);
    writeFileSync(join(dir, 'metrics.csv'), 'x\n');
    mkdirSync(join(dir, 'checkpoint'));
    expect(() => createRunDir(dir)).toThrow(UserError);
    clearRunDir(dir);
    expect(readdirSync(dir).sort()).toEqual([LOCK_DIR, OWNER_FILE]);
    expect(readdirSync(dir).every(isLockEntry)).toBe(true);
    lock.releaseSync();
  });
});

describe('lockTimes', () => {
  it('60 s stale and a refresh every 10 s by default; QKV_LAB_LOCK_STALE_MS shortens both; nonsense is a user error', () => {
    expect(lockTimes({})).toEqual({ stale: 60_000, update: 10_000 });
    expect(lockTimes({ QKV_LAB_LOCK_STALE_MS: '2000' })).toEqual({ stale: 2_000, update: 1_000 });
    expect(lockTimes({ QKV_LAB_LOCK_STALE_MS: '12000' })).toEqual({ stale: 12_000, update: 2_000 });
    for (const bad of ['abc', '500', '2.5e3x', '-1']) expect(() => lockTimes({ QKV_LAB_LOCK_STALE_MS: bad }), bad).toThrow(UserError);
  });
});

/** Runs `body` (ESM, with `tryLock` imported from the built module) in a child node process; resolves with how it ended. */
function child(body: string, env: Record<string, string> = {}) {
  const script = `import { tryLock } from ${JSON.stringify(join(REPO, 'dist', 'runs', 'lock.js'))};\n${body}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { proc, done, output: () => stdout };
}

/** Waits until `ready()` holds, polling; the test's own timeout bounds it. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setTimeout(r, 20));
}

describe('how a holder ends', () => {
  it('an uncaught exception releases the lock and its owner file', async () => {
    const dir = runDir();
    const r = await child(`await tryLock(${JSON.stringify(dir)}, 'test'); throw new Error('crash on purpose');`).done;
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('crash on purpose');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('process.exit releases it', async () => {
    const dir = runDir();
    const r = await child(`await tryLock(${JSON.stringify(dir)}, 'test'); process.exit(3);`).done;
    expect(r.code).toBe(3);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('SIGKILL leaves it behind, naming the dead holder; on this machine it is stale at once and taken over', async () => {
    const dir = runDir();
    const c = child(`await tryLock(${JSON.stringify(dir)}, 'test'); console.log('locked'); setInterval(() => {}, 1000);`);
    await until(() => c.output().includes('locked'));
    const live = inspectLock(dir)!;
    expect([live.stale, live.gone]).toEqual([false, false]);
    c.proc.kill('SIGKILL');
    const r = await c.done;
    expect(r.signal).toBe('SIGKILL');
    const left = inspectLock(dir)!;
    expect(left.owner).toMatchObject({ pid: c.proc.pid, host: hostname(), by: 'test' });
    expect([left.stale, left.gone]).toEqual([true, true]); // its pid no longer runs here: no need to wait for the mtime
    const attempt = await tryLock(dir, 'taker');
    expect(attempt.kind).toBe('locked');
    if (attempt.kind !== 'locked') return;
    expect(attempt.tookOver).toMatchObject({ gone: true, owner: { pid: c.proc.pid } });
    expect(owner(dir)).toMatchObject({ pid: process.pid, by: 'taker' });
    attempt.lock.releaseSync();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a dead pid counts only where it means the same process: another host or pid namespace waits for the mtime', async () => {
    const c = child('process.exit(0);');
    await c.done;
    const pid = c.proc.pid!; // a process of this machine that has ended
    for (const [name, patch, gone] of [
      ['same host and namespace', {}, true],
      ['another host', { host: 'node-7' }, false],
      ['another pid namespace', { pidns: 'pid:[1]' }, false],
      ['no namespace recorded', { pidns: null }, false],
    ] as const) {
      const dir = runDir();
      const probe = await locked(dir); // writes this process's own owner record, whose host and namespace we then borrow
      const record = { ...owner(dir), pid, ...patch };
      probe.releaseSync();
      mkdirSync(join(dir, LOCK_DIR));
      writeFileSync(join(dir, OWNER_FILE), JSON.stringify(record));
      const info = inspectLock(dir)!;
      expect([info.gone, info.stale], name).toEqual([gone, gone]);
      const attempt = await tryLock(dir, 'test');
      expect(attempt.kind, name).toBe(gone ? 'locked' : 'held');
      if (attempt.kind === 'locked') attempt.lock.releaseSync();
    }
  });

  it('a lock removed under its holder stops the holder at once, with one line', async () => {
    const dir = runDir();
    const c = child(`await tryLock(${JSON.stringify(dir)}, 'test'); console.log('locked'); setInterval(() => {}, 1000);`, {
      QKV_LAB_LOCK_STALE_MS: '2000', // refreshed every second, so the loss is noticed within about one
    });
    await until(() => c.output().includes('locked'));
    rmSync(join(dir, LOCK_DIR), { recursive: true });
    const r = await c.done;
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^qkv-lab: lost the lock on ${dir} .*; stopping at once`));
  });
});
