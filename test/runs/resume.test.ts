/**
 * prepareResume on a copy of a finished run from the shared tiny sweep (test/globalSetup.ts): the claims trace is
 * kept when it covers every logged step before the checkpoint, and dropped, with a line saying so, when it has a gap.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { prepareResume } from '../../src/runs/resume.js';
import { readRunConfig } from '../../src/runs/read.js';

const scratch = mkdtempSync(join(tmpdir(), 'qkv-resume-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A private copy of the sweep's first run, with `edit` applied to its attention.json. */
function copyOfRun(name: string, edit: (attention: { trace: { step: number }[] }) => void): string {
  const { runs } = inject('tinySweep');
  const source = join(
    runs,
    readdirSync(runs)
      .filter((n) => n.startsWith('attention-'))
      .sort()[0],
  );
  const dir = join(scratch, name);
  cpSync(source, dir, { recursive: true });
  const path = join(dir, 'attention.json');
  const attention = JSON.parse(readFileSync(path, 'utf8'));
  edit(attention);
  writeFileSync(path, JSON.stringify(attention));
  return dir;
}

describe('prepareResume and the claims trace', () => {
  it('keeps a complete trace: every logged step before the checkpoint, no note', () => {
    const dir = copyOfRun('complete', () => {});
    const point = prepareResume(dir, readRunConfig(dir));
    expect(point.step).toBe(40); // the tiny sweep's runs end with a checkpoint at their last step
    expect(point.trace.map((t) => t.step)).toEqual([0, 20]); // logged every 20 steps
    expect(point.notes).toEqual([]);
  });

  it('a gap just before the checkpoint: nothing after it to keep, so volatility is measured from the checkpoint on', () => {
    const dir = copyOfRun('gap', (attention) => (attention.trace = attention.trace.filter((t) => t.step !== 20)));
    const point = prepareResume(dir, readRunConfig(dir));
    expect(point.trace).toEqual([]);
    expect(point.snapshots.length).toBeGreaterThan(0);
    expect(point.notes).toEqual([
      expect.stringMatching(/claims trace before step 40 lacks logged step 20, so attention volatility is measured from step 40 on/),
    ]);
    expect(JSON.parse(readFileSync(join(dir, 'attention.json'), 'utf8')).trace).toEqual([]);
  });

  it('keeps the unbroken run of steps after a gap, and a second resume keeps it whole instead of narrowing it again', () => {
    const dir = copyOfRun('late', (attention) => (attention.trace = attention.trace.filter((t) => t.step !== 0)));
    const first = prepareResume(dir, readRunConfig(dir));
    expect(first.trace.map((t) => t.step)).toEqual([20]);
    expect(first.notes).toEqual([expect.stringMatching(/lacks logged step 0, so attention volatility is measured from step 20 on/)]);
    const second = prepareResume(dir, readRunConfig(dir));
    expect(second.trace.map((t) => t.step)).toEqual([20]);
  });
});
