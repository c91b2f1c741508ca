// The sweep's progress off a terminal (a file, a CI log), on a simulated clock: at most one line a minute,
// an ETA from the measured rate, groups reported in the order they finish. The terminal bar is checked by hand
// in tmux (see the README), since a test has no real terminal.
import { describe, expect, it } from 'vitest';
import { SweepProgress, PLAIN_EVERY_MS } from '../../src/sweep/progress.js';
import { durationText, lossText } from '../../src/progress.js';

function fakeLog() {
  const lines: { at: number; text: string }[] = [];
  let t = 0;
  const stream = { isTTY: false, write: (s: string) => (lines.push({ at: t, text: s.trimEnd() }), true) } as unknown as NodeJS.WritableStream;
  return { lines, stream, now: () => t, advance: (ms: number) => (t += ms) };
}

const GROUPS = [
  { id: 0, label: 'qkv ×25', runs: 25, steps: 2000, startStep: 0 },
  { id: 1, label: 'qv ×25', runs: 25, steps: 2000, startStep: 0 },
];

describe('SweepProgress off a terminal', () => {
  it('writes at most one progress line a minute, however often groups report', () => {
    const log = fakeLog();
    const p = new SweepProgress(GROUPS, log.stream, log.now);
    // 11 simulated minutes, both groups reporting every 0.5 s.
    for (let step = 0; step <= 2000; step += 1.5) {
      log.advance(500);
      p.update(0, Math.floor(step), 1.5);
      p.update(1, Math.floor(step), 2.5);
    }
    p.groupDone(1, { statuses: Array(25).fill('completed') });
    p.groupDone(0, { statuses: Array(25).fill('completed') });
    p.stop();
    const progress = log.lines.slice(1, -1); // the opening and closing lines frame the sweep
    expect(log.lines[0].text).toMatch(/^sweep: 50 runs in 2 group\(s\), 100000 run-steps/);
    expect(progress.length).toBe(11); // one per full minute
    for (let i = 1; i < progress.length; i++) expect(progress[i].at - progress[i - 1].at).toBeGreaterThanOrEqual(PLAIN_EVERY_MS);
    expect(progress[0].text).toMatch(/elapsed, ETA .*; train loss: qkv ×25 1\.50, qv ×25 2\.50$/);
    expect(log.lines.at(-1)!.text).toMatch(/^sweep: 2\/2 groups ended, 50\/50 runs finished \(50 completed\) in 11:07$/); // 1334 reports 0.5 s apart
  });

  it('estimates the remaining time from the rate since the first report, not from the start-up', () => {
    const log = fakeLog();
    const p = new SweepProgress(GROUPS, log.stream, log.now);
    log.advance(5000); // workers load TensorFlow.js
    p.update(0, 0, null);
    expect(p.eta()).toBeNull(); // no rate yet
    log.advance(10_000);
    p.update(0, 500, 2); // 25 × 500 run-steps in 10 s
    // 100000 − 12500 run-steps left at 1250 run-steps/s = 70 s.
    expect(p.eta()).toBeCloseTo(70, 9);
  });

  it('says at once when a group fails, even between minute lines', () => {
    const log = fakeLog();
    const p = new SweepProgress(GROUPS, log.stream, log.now);
    log.advance(1000);
    p.groupDone(1, { error: 'out of memory' });
    expect(log.lines.at(-1)!.text).toBe('sweep: 1/2 groups ended: qv ×25 (failed: out of memory) — 0/50 runs, 1 s');
  });
});

describe('SweepProgress after Ctrl-C', () => {
  it('does not count interrupted runs as finished, nor their untrained steps as done', () => {
    const log = fakeLog();
    const p = new SweepProgress(GROUPS, log.stream, log.now);
    log.advance(1000);
    p.update(0, 0, null);
    log.advance(4000);
    p.update(0, 400, 2.1);
    p.update(1, 380, 2.2);
    p.groupDone(0, { statuses: Array(25).fill('interrupted') });
    p.groupDone(1, { statuses: Array(25).fill('interrupted') });
    p.stop();
    expect(log.lines.at(-1)!.text).toMatch(/^sweep: 2\/2 groups ended, 0\/50 runs finished \(50 interrupted\) in 5 s$/);
    expect(p.eta()).toBeGreaterThan(0); // work is left: 25 × (1600 + 1620) run-steps
  });
});

describe('progress text', () => {
  it('shows a loss to 3 significant digits, so a small loss never reads 0.000', () => {
    expect(lossText(0.000412)).toBe('0.000412');
    expect(lossText(2.7512)).toBe('2.75');
    expect(lossText(NaN)).toBe('-');
    expect(lossText(null)).toBe('-');
  });

  it('writes durations as seconds, m:ss or h:mm:ss', () => {
    expect(durationText(42.4)).toBe('42 s');
    expect(durationText(187)).toBe('3:07');
    expect(durationText(3723)).toBe('1:02:03');
    expect(durationText(Infinity)).toBe('-');
  });
});
