/**
 * The errors are known by a brand rather than by their class: a user's module imports them from `qkv-lab`, which the
 * loader (extend/load.ts, through jiti) evaluates as a copy of this file, and the kit must still know that copy's
 * UserError for what it is (one line, exit 2), not report it as an internal error.
 */
const USER_ERROR = Symbol.for('qkv-lab.UserError');
const ENVIRONMENT_ERROR = Symbol.for('qkv-lab.EnvironmentError');
const branded = (value: unknown, brand: symbol) => typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;

/** A problem with what the user gave us: printed as one line, exit code 2, never a stack trace. */
export class UserError extends Error {
  readonly [USER_ERROR] = true;
  static [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, USER_ERROR);
  }
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * A fault of the machine, not of the input or the code: a full disk, a quota, a read-only or forbidden path.
 * Printed as one line, exit code 1; the run keeps its last good checkpoint and can be resumed.
 */
export class EnvironmentError extends Error {
  readonly [ENVIRONMENT_ERROR] = true;
  static [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, ENVIRONMENT_ERROR);
  }
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** Exit code for bad input; 1 is reserved for "ran fine, verdict not reproduced". */
export const USER_ERROR_EXIT = 2;
/** Exit code for a fault of the environment (full disk, no permission): nothing is wrong with the input. */
export const ENVIRONMENT_ERROR_EXIT = 1;

/** The first line of what was thrown: an error's message, or anything else as text. The one-line rule's cut. */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** The errno codes that mean "the file system refused", with the words a user knows them by. */
const ENVIRONMENT_CODES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
};

export function isEnvironmentCode(code: unknown): code is string {
  return typeof code === 'string' && code in ENVIRONMENT_CODES;
}

/**
 * `err` as an EnvironmentError saying what could not be written where, when it is one of the file-system
 * refusals above; otherwise `err` unchanged. `path` names the file the user knows (not a temp file beside it).
 */
export function asEnvironmentError(err: unknown, path?: string, verb?: string): unknown {
  if (err instanceof EnvironmentError) return err;
  const e = err as NodeJS.ErrnoException | null;
  if (!e || !isEnvironmentCode(e.code)) return err;
  const did = verb ?? (e.syscall === 'read' || e.syscall === 'scandir' ? 'read' : e.syscall === 'open' ? 'open' : 'write');
  return new EnvironmentError(`cannot ${did} ${path ?? e.path ?? 'a file'}: ${ENVIRONMENT_CODES[e.code]} (${e.code})`, e.code);
}

/** The one place errors reach the terminal (`write`: standard error unless a caller such as a test says otherwise). */
export function reportError(err: unknown, write: (text: string) => void = (text) => void process.stderr.write(text)): number {
  if (err instanceof UserError) {
    write(`qkv-lab: ${err.message.split('\n')[0]}\n`);
    return USER_ERROR_EXIT;
  }
  const env = asEnvironmentError(err);
  if (env instanceof EnvironmentError) {
    write(`qkv-lab: ${env.message.split('\n')[0]}\n`);
    return ENVIRONMENT_ERROR_EXIT;
  }
  write(`qkv-lab: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 3;
}
