/**
 * One writer per run directory. A process that writes a run (train, train --resume, a sweep for each run it
 * trains) first takes the run's lock, and holds it until it stops writing.
 *
 * The lock is proper-lockfile's: a directory `<run>/.lock` made with mkdir, which is atomic on every file
 * system, NFS included. While held, its mtime is refreshed every `update` ms; a lock whose mtime is older
 * than `stale` ms belongs to a holder that died (SIGKILL, a lost node) and is taken over. Who holds it (pid,
 * host, pid namespace, since when, doing what) is written beside it, in `<run>/.lock-owner.json`: inside the
 * lock directory a file would change the mtime the library checks, and keep its rmdir from releasing the
 * lock. The owner also lets a holder that died on this machine be recognised at once, by its pid.
 *
 * A process writes its record as a candidate (`.lock-owner.json.<pid>.tmp`) before it makes the lock
 * directory, and renames it to `.lock-owner.json` once the lock is its own; releasing goes the same way back.
 * So at every moment a lock exists, its holder's record is on disk as the owner or as a candidate, and a kill
 * at any point leaves a lock whose holder can be named and checked.
 *
 * Released on every ordinary way out: the holder's release, an exception, process.exit and the first and
 * second Ctrl-C (an exit handler here, and proper-lockfile's own). A SIGKILL leaves it behind, stale after
 * `stale` ms and naming the dead holder.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import lockfile from 'proper-lockfile';
import { UserError, asEnvironmentError, ENVIRONMENT_ERROR_EXIT } from '../errors.js';
import { ensureDir } from '../files/atomic.js';
import { INTERRUPTED_EXIT, isStopRequested } from './signals.js';

export const LOCK_DIR = '.lock';
export const OWNER_FILE = '.lock-owner.json';
/** A report directory's lock sits one level down, so a report written into a run directory never meets the run's lock. */
export const REPORT_LOCK_DIR = '.report-lock';

/** The locks' own entries in a run directory (the owner file's temp copy included): not part of the run. */
export function isLockEntry(name: string): boolean {
  return name === LOCK_DIR || name.startsWith(OWNER_FILE) || name === REPORT_LOCK_DIR;
}

/** Stale after this long without a refresh, unless QKV_LAB_LOCK_STALE_MS says otherwise (the tests shorten it). */
export const DEFAULT_STALE_MS = 60_000;
const STALE_VARIABLE = 'QKV_LAB_LOCK_STALE_MS';
/** proper-lockfile's floor: below it a busy event loop alone would make a live lock look stale. */
const MIN_STALE_MS = 2_000;

/**
 * `stale` and how often a holder refreshes: six refreshes per stale period, at most every 10 s and at least
 * every 1 s. A process that trains in its own event loop refreshes between logged steps, so `stale` must
 * exceed the longest stretch of training between two of them; 60 s does for every shipped config.
 */
export function lockTimes(env: NodeJS.ProcessEnv = process.env): { stale: number; update: number } {
  const raw = env[STALE_VARIABLE];
  let stale = DEFAULT_STALE_MS;
  if (raw !== undefined && raw !== '') {
    stale = Number(raw);
    if (!Number.isInteger(stale) || stale < MIN_STALE_MS)
      throw new UserError(`${STALE_VARIABLE} must be a whole number of milliseconds ≥ ${MIN_STALE_MS}, got '${raw}'`);
  }
  return { stale, update: refreshEvery(stale) };
}

const refreshEvery = (stale: number) => Math.max(1_000, Math.min(10_000, Math.floor(stale / 6)));

/** What `.lock-owner.json` records. */
export interface LockOwner {
  pid: number;
  host: string;
  /** When this holder took the lock (ISO 8601). */
  since: string;
  /** What holds it: train, train --resume or sweep. */
  by: string;
  /** The holder's pid namespace (Linux), so that a pid is only ever checked where it means the same process. */
  pidns?: string | null;
}

/** A lock found on a run directory, live or stale. */
export interface LockInfo {
  dir: string;
  /** Null when the owner file is missing or unreadable (the holder was between mkdir and writing it). */
  owner: LockOwner | null;
  /** Milliseconds since the holder last refreshed it. */
  ageMs: number;
  /** Free to take over: not refreshed for longer than `stale`, or its holder is provably gone. */
  stale: boolean;
  /** The holder ran on this machine, in this pid namespace, and that pid no longer runs: it is gone now, not only after `stale`. */
  gone: boolean;
}

/** "pid 4242@node-7", or a plain description when the owner was not recorded. */
export function holderText(owner: LockOwner | null): string {
  return owner ? `pid ${owner.pid}@${owner.host}` : 'a process that left no owner file';
}

/** The distinct holders of several locks, e.g. "pid 1@a, pid 2@b". */
export function holdersText(infos: readonly LockInfo[]): string {
  return [...new Set(infos.map((i) => holderText(i.owner)))].join(', ');
}

/** A record, or null when it is missing, half-written or not one. */
function readRecord(path: string): LockOwner | null {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8'));
    return value && typeof value.pid === 'number' && typeof value.host === 'string' ? (value as LockOwner) : null;
  } catch {
    return null;
  }
}

const candidateName = (pid: number) => `${OWNER_FILE}.${pid}.tmp`;
const isCandidate = (name: string) => name.startsWith(`${OWNER_FILE}.`) && name.endsWith('.tmp');

/** The candidates' records (null for one that cannot be read yet); listed before the owner is read, so a rename between the two is seen on one side. */
function readCandidates(dir: string): (LockOwner | null)[] {
  try {
    return readdirSync(dir)
      .filter(isCandidate)
      .map((name) => readRecord(join(dir, name)));
  } catch {
    return [];
  }
}

/** This process's pid namespace ("pid:[4026531836]"), or null where there is no /proc to tell. */
function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}
const PID_NAMESPACE = pidNamespace();

/**
 * Whether the owner is a process of this machine that has ended. Only when the host and the pid namespace are
 * ours does its pid name a process we can see; elsewhere (another node, another container) the answer is no,
 * and the lock goes stale by its mtime alone. A pid reused since counts as alive: the safe direction.
 */
function holderGone(owner: LockOwner | null): boolean {
  if (!owner || owner.host !== hostname() || !PID_NAMESPACE || owner.pidns !== PID_NAMESPACE || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: it exists, under another user
  }
}

/**
 * The run's lock as it is on disk now, or null when nobody holds it. Reads only. Stale by proper-lockfile's
 * rule (mtime older than `stale`), or at once when its holder is provably gone.
 */
export function inspectLock(dir: string, stale = lockTimes().stale): LockInfo | null {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(join(dir, LOCK_DIR)).mtimeMs;
  } catch {
    return null;
  }
  const ageMs = Math.max(0, Date.now() - mtimeMs);
  const candidates = readCandidates(dir);
  const recorded = readRecord(join(dir, OWNER_FILE));
  // Whoever made the lock is among these records: gone only when every one is a process of this machine that has ended.
  const records = recorded ? [recorded, ...candidates] : candidates;
  const gone = records.length > 0 && records.every((r) => r !== null && holderGone(r));
  // Named in messages: the owner, unless it has ended and a live candidate is taking its place.
  const owner =
    recorded && !holderGone(recorded)
      ? recorded
      : (candidates.find((c) => c !== null && !holderGone(c)) ?? recorded ?? candidates.find((c) => c !== null) ?? null);
  return { dir, owner, ageMs, stale: gone || ageMs > stale, gone };
}

/** Run directories this process holds, for the exit handler. */
const held = new Map<string, RunLock>();
let exitHandler = false;

/**
 * On any exit that runs handlers (process.exit, the end of the event loop, an uncaught exception), every lock
 * is released as releaseSync does. proper-lockfile's own handler, which runs after this one, finds nothing left.
 */
function installExitHandler(): void {
  if (exitHandler) return;
  exitHandler = true;
  process.on('exit', () => {
    for (const lock of held.values()) lock.releaseSync();
  });
}

/** A lock this process holds on one run directory. */
export class RunLock {
  private released = false;
  constructor(
    readonly dir: string,
    private readonly lockPath: string,
  ) {}

  /**
   * Gives the run up, the acquisition backwards: the owner record back to a candidate, the lock directory, then
   * the candidate. Killed in between, it leaves a lock naming us, or a candidate with no lock: never our name on
   * another's lock, nor a lock nobody is named on. Safe to call twice.
   */
  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.dir);
    const candidate = join(this.dir, candidateName(process.pid));
    try {
      renameSync(join(this.dir, OWNER_FILE), candidate);
    } catch {
      // never recorded (a full disk), or the run directory is gone
    }
    try {
      lockfile.unlockSync(this.dir, { realpath: false, lockfilePath: this.lockPath });
    } catch {
      // no longer ours (lost, and the process is ending) or already removed; a lock left behind goes stale and is taken over
    }
    removeQuietly(candidate);
  }
}

export type LockAttempt = { kind: 'locked'; lock: RunLock; tookOver: LockInfo | null } | { kind: 'held'; info: LockInfo };

/**
 * Takes the run's lock if nobody live holds it: a stale lock is taken over (and returned as `tookOver`, so
 * the caller can say so), a live one comes back as `held` with its holder. `by` says what holds it (train,
 * sweep). A lock that is lost while held (someone removed it, or took it over after this process stalled for
 * longer than `stale`) ends the process at once with one line: two writers must never share a run.
 */
export async function tryLock(dir: string, by: string, stale = lockTimes().stale): Promise<LockAttempt> {
  const update = refreshEvery(stale);
  const target = resolve(dir);
  const lockPath = join(target, LOCK_DIR);
  const before = inspectLock(target, stale);
  const candidate = join(target, candidateName(process.pid));
  writeCandidate(candidate, by); // before the lock exists, so that the lock never exists without our name beside it
  if (before?.gone && before.ageMs <= stale) {
    // Its holder died on this machine (a kill -9, a crash of the runtime): no need to wait for the mtime to age.
    // Like proper-lockfile's own takeover of a stale lock, this removes it and then locks; two processes that
    // do so in the same instant could both succeed, a window of a few system calls.
    try {
      rmdirSync(lockPath);
    } catch {
      // gone already, or taken by someone else meanwhile: the lock attempt below decides
    }
  }
  try {
    await lockfile.lock(target, {
      stale,
      update,
      realpath: false,
      retries: 0,
      lockfilePath: lockPath,
      onCompromised: (err) => {
        process.stderr.write(`qkv-lab: lost the lock on ${dir} (${err.message}); stopping at once, so that two processes never write one run\n`);
        process.exit(ENVIRONMENT_ERROR_EXIT);
      },
    });
  } catch (err) {
    removeQuietly(candidate);
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      const info = inspectLock(target, stale) ?? before ?? { dir, owner: null, ageMs: 0, stale: false, gone: false };
      return { kind: 'held', info: { ...info, dir } };
    }
    const env = asEnvironmentError(err, lockPath, 'create');
    throw env !== err ? env : new UserError(`cannot lock ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const lock = new RunLock(target, lockPath);
  held.set(target, lock);
  installExitHandler();
  try {
    renameSync(candidate, join(target, OWNER_FILE));
  } catch {
    // the candidate was never written (a full disk): the lock holds all the same, with its holder unnamed
  }
  removeDeadCandidates(target);
  return { kind: 'locked', lock, tookOver: before?.stale ? { ...before, dir } : null };
}

/** The outcome of locking several runs: the locks taken (by directory as given), the runs a live process holds, and the stale locks taken over. */
export interface Claim {
  locks: Map<string, RunLock>;
  held: LockInfo[];
  tookOver: LockInfo[];
}

/**
 * Locks each run directory (creating it when missing) in order, before anything reads or changes it. A
 * failure other than "held" (a full disk, a forbidden path) releases what was taken and throws.
 */
export async function claimRuns(dirs: readonly string[], by: string): Promise<Claim> {
  const claim: Claim = { locks: new Map(), held: [], tookOver: [] };
  try {
    for (const dir of dirs) {
      ensureDir(dir);
      const attempt = await tryLock(dir, by);
      if (attempt.kind === 'held') {
        claim.held.push(attempt.info);
        continue;
      }
      claim.locks.set(dir, attempt.lock);
      if (attempt.tookOver) claim.tookOver.push(attempt.tookOver);
    }
  } catch (err) {
    releaseAll(claim.locks.values());
    throw err;
  }
  return claim;
}

/**
 * A report's lock is stale only after 10 minutes: a report reads and analyses its runs in one synchronous stretch,
 * during which the lock is not refreshed (1600 runs took 15 s). A holder that died on this machine is seen at once.
 */
export const REPORT_STALE_MS = 600_000;

/**
 * One writer per report directory: takes `dir`'s report lock (in `<dir>/.report-lock`), waiting while a live process
 * holds it (`onWait` is told once, with the holder). A first Ctrl-C while waiting ends the wait with exit 130, as a
 * second one would. Release it with releaseReportLock.
 */
export async function lockReportDir(dir: string, onWait: (info: LockInfo) => void = () => {}): Promise<RunLock> {
  const at = join(dir, REPORT_LOCK_DIR);
  for (let told = false; ; told = true) {
    ensureDir(at); // again each time: a writer that was refused removes the directories it made
    const attempt = await tryLock(at, 'report', Math.max(REPORT_STALE_MS, lockTimes().stale));
    if (attempt.kind === 'locked') return attempt.lock;
    if (!told) onWait(attempt.info);
    if (isStopRequested()) {
      process.stderr.write(`qkv-lab: stopped while waiting to write a report into ${resolve(dir)}; run the same command again\n`);
      process.exit(INTERRUPTED_EXIT);
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

/** Releases a report lock and removes its directory, when nobody else is already waiting in it. */
export function releaseReportLock(lock: RunLock): void {
  lock.releaseSync();
  removeQuietly(lock.dir, true);
}

/**
 * Runs `work` holding `outDir`'s report lock: one process writes a report directory at a time, and the report
 * written last is the one computed last (two shards of one ablation each write the report when they finish). When
 * `work` throws (a refusal), the directories the lock created are removed again if they are empty.
 */
export async function withReportLock<T>(outDir: string, work: () => Promise<T>, onWait?: (info: LockInfo) => void): Promise<T> {
  const created: string[] = []; // outDir and each missing parent, deepest first
  for (let d = resolve(outDir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) created.push(d);
  let lock: RunLock | undefined;
  let refused = true;
  try {
    lock = await lockReportDir(outDir, onWait);
    const done = await work();
    refused = false;
    return done;
  } finally {
    if (lock) releaseReportLock(lock);
    if (refused) for (const d of created) removeQuietly(d, true);
  }
}

export function releaseAll(locks: Iterable<RunLock>): void {
  for (const lock of [...locks]) lock.releaseSync();
}

/** Why stale locks could be taken over: "its process is gone", or "not refreshed for 75 s" (the most recently refreshed one counts). */
export function staleText(infos: readonly LockInfo[]): string {
  if (infos.every((i) => i.gone)) return 'its process is no longer running';
  return `not refreshed for ${Math.round(Math.min(...infos.map((i) => i.ageMs)) / 1000)} s; its holder is gone`;
}

/**
 * Writes this process's record as a candidate. Best effort: on a full disk the lock still holds (it is the
 * directory), and another process names an unknown holder; the training that follows reports the full disk.
 */
function writeCandidate(path: string, by: string): void {
  const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), by, pidns: PID_NAMESPACE };
  try {
    writeFileSync(path, JSON.stringify(owner) + '\n');
  } catch {
    removeQuietly(path);
  }
}

/** Candidates left by processes of this machine killed while they took or gave up this lock: nobody reads them any more. */
function removeDeadCandidates(dir: string): void {
  try {
    for (const name of readdirSync(dir).filter(isCandidate)) if (holderGone(readRecord(join(dir, name)))) removeQuietly(join(dir, name));
  } catch {
    // a leftover candidate is harmless: it names a process that has ended
  }
}

/** Removes a file, or an empty directory (`directory`); a missing one, or a directory not empty, is left as it is. */
function removeQuietly(path: string, directory = false): void {
  try {
    if (directory) rmdirSync(path);
    else unlinkSync(path);
  } catch {
    // not there, or not empty
  }
}
