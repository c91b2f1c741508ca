/** Atomic file writes (temp file, fsync, rename) for every module that writes files: runs, reports, eval sets. */
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, existsSync, statSync, mkdirSync } from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import { UserError, asEnvironmentError } from '../errors.js';
import { checkInjectedFault } from './faults.js';

/**
 * Writes a file so that a reader (or a kill -9) only ever sees the old content or the new, never half:
 * write a temp file beside it, fsync, rename over the target, fsync the directory.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  try {
    checkInjectedFault(path);
    writeThenRename(path, data);
  } catch (err) {
    throw asEnvironmentError(err, path, 'write'); // a full disk names the file the user knows, not the temp file
  }
}

function writeThenRename(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp); // frees the space the partial temp file took: the old file is still whole
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  syncDir(dirname(path));
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  }
}

/**
 * `mkdir -p` that reports problems as UserErrors. It walks up to the deepest existing ancestor itself:
 * Node 20's recursive mkdir never returns for a path under /proc.
 */
export function ensureDir(dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  let at = target;
  while (!existsSync(at)) {
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (existsSync(at) && !statSync(at).isDirectory()) throw new UserError(`cannot create ${dir}: ${at} is a file, not a directory`);
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      const env = asEnvironmentError(err, path, 'create');
      throw env !== err ? env : new UserError(`cannot create ${dir}: ${code ?? String(err)}`);
    }
  }
}
