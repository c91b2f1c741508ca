/**
 * The CLI in this test process: `main(argv, io)` from src/cli.ts with `cwd` as the working directory and
 * everything written to stdout and stderr collected, as test/helpers/cli.ts collects a child process's output.
 * For refusals (a bad config, a damaged run to resume): they end before any training, so a subprocess per case
 * would only pay Node's and TensorFlow.js's start-up again. A few subprocess cases in each file keep the exit
 * code and the printed line of the real executable under test.
 *
 * One call at a time: the working directory and the output streams are the process's own. `runInProcess`
 * queues calls, so callers may start several at once.
 */
import { main } from '../../src/cli.js';
import type { Result } from './cli.js';

let queue: Promise<unknown> = Promise.resolve();

/** Runs `qkv-lab ...args` in-process in `cwd`; resolves like runCli, with `killed` always false (a hang fails the test's timeout). */
export function runInProcess(args: string[], cwd: string): Promise<Result> {
  const run = queue.then(() => runNow(args, cwd));
  queue = run.catch(() => {});
  return run;
}

async function runNow(args: string[], cwd: string): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const { write: writeOut } = process.stdout;
  const { write: writeErr } = process.stderr;
  const capture = (add: (text: string) => void) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      add(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
  const previousDir = process.cwd();
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const listeners = new Map(signals.map((s) => [s, process.listeners(s)]));
  const previousExitCode = process.exitCode;
  process.stdout.write = capture((t) => (stdout += t));
  process.stderr.write = capture((t) => (stderr += t));
  try {
    process.chdir(cwd);
    const code = await main(args, { stderr: (t) => (stderr += t) });
    // A command that ends in a state of its own (interrupted, a failed --check) sets process.exitCode, which cli.ts, run as the program, leaves to the process.
    const status = code !== 0 ? code : typeof process.exitCode === 'number' ? process.exitCode : 0;
    return { status, signal: null, stdout, stderr, killed: false };
  } finally {
    process.chdir(previousDir);
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    process.exitCode = previousExitCode;
    // `train` installs a Ctrl-C handler for the process; here the process is the test runner's, which must stay stoppable.
    for (const signal of signals) for (const l of process.listeners(signal)) if (!listeners.get(signal)!.includes(l)) process.off(signal, l);
  }
}
