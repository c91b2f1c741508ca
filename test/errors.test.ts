/** The one error printer: bad input exit 2, a refusing file system exit 1, anything else an internal error (3). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnvironmentError, UserError, asEnvironmentError, reportError } from '../src/errors.js';

const errno = (code: string, path = '/runs/x/metrics.csv', syscall = 'write') =>
  Object.assign(new Error(`${code}: something, ${syscall} '${path}'`), { code, path, syscall });

describe('reportError', () => {
  let printed = '';
  afterEach(() => vi.restoreAllMocks());
  const capture = () => vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((printed += String(s)), true));

  it.each([
    ['ENOSPC', 'no space left on device'],
    ['EDQUOT', 'disk quota exceeded'],
    ['EACCES', 'permission denied'],
    ['EROFS', 'read-only file system'],
  ])('%s: one line naming the file and the cause, exit 1', (code, words) => {
    printed = '';
    capture();
    expect(reportError(errno(code))).toBe(1);
    expect(printed).toBe(`qkv-lab: cannot write /runs/x/metrics.csv: ${words} (${code})\n`);
  });

  it('says read or open when that is what was refused', () => {
    printed = '';
    capture();
    expect(reportError(errno('EACCES', '/runs/x', 'scandir'))).toBe(1);
    expect(reportError(errno('EACCES', '/runs/x/config.json', 'open'))).toBe(1);
    expect(printed).toBe(
      'qkv-lab: cannot read /runs/x: permission denied (EACCES)\nqkv-lab: cannot open /runs/x/config.json: permission denied (EACCES)\n',
    );
  });

  it('other errno codes stay internal errors (exit 3), bad input stays exit 2', () => {
    printed = '';
    capture();
    expect(reportError(errno('EIO'))).toBe(3);
    expect(reportError(new UserError('bad'))).toBe(2);
  });

  it('asEnvironmentError names the file the user knows, and leaves other errors as they are', () => {
    const env = asEnvironmentError(errno('ENOSPC', '/runs/x/.metrics.csv.123.tmp'), '/runs/x/metrics.csv');
    expect(env).toBeInstanceOf(EnvironmentError);
    expect((env as Error).message).toBe('cannot write /runs/x/metrics.csv: no space left on device (ENOSPC)');
    const other = new Error('boom');
    expect(asEnvironmentError(other)).toBe(other);
  });
});
