/**
 * Shared scaffolding for the end-to-end tests that drive the built CLI (`node dist/cli.js`): where the repo,
 * the CLI and the configs are, spawning the CLI and collecting its output, the one-line error contract, and a
 * per-file temp root. Not a *.test.ts file, so vitest does not run it on its own.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CLI, LOOKUP, REPO, runCli, startCli, type CliOptions, type Result } from './shared.js';

export { CLI, LOOKUP, REPO, runCli, startCli, type CliOptions, type Result };
if (!existsSync(CLI)) {
  throw new Error(`${CLI} is missing: build first with \`npx tsc -p .\` (\`npm test\` does this in its pretest step)`);
}

/** A failure message with everything the process said. */
export const explain = (r: Result) =>
  `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}${r.killed ? ' — KILLED by the kill-after timer (hang)' : ''}\n` +
  `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/**
 * The bad-input contract: exit 2 and exactly one non-empty line on stderr, without a stack trace or an
 * "internal error". With `soft`, every check is an expect.soft, so that a failure lists every way it went wrong.
 */
export function expectOneLineError(r: Result, { soft = false }: { soft?: boolean } = {}): void {
  const check = soft ? expect.soft : expect;
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  check(r.status, explain(r)).toBe(2);
  check(lines, `stderr must be exactly one line:\n${r.stderr}`).toHaveLength(1);
  check(r.stderr).not.toContain('    at ');
  check(r.stderr).not.toMatch(/internal error/);
}

/** `fresh(name)` makes a new directory under the file's temp root; `fresh.root` is that root. */
export interface TempRoot {
  (name: string): string;
  readonly root: string;
}

/**
 * Registers beforeAll/afterAll hooks that create a temp root `<tmpdir>/<prefix>XXXXXX` and remove it afterwards.
 * Call it at the top level of a test file, before any beforeAll that needs the root.
 */
export function useTempRoot(prefix: string): TempRoot {
  let root: string | undefined;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });
  const rootOrThrow = () => {
    if (root === undefined) throw new Error('the temp root exists only from beforeAll on');
    return root;
  };
  const fresh = (name: string) => mkdtempSync(join(rootOrThrow(), `${name}-`));
  return Object.defineProperty(fresh, 'root', { get: rootOrThrow }) as TempRoot;
}
