/**
 * What a sweep shows while it trains. On a terminal: one bar for the whole sweep (runs and run-steps done,
 * elapsed time, ETA) and one per group in training with its latest train loss; a line when a group
 * finishes, in the order they finish. Elsewhere (a file, a CI log): at most one plain line a minute.
 */
import cliProgress from 'cli-progress';
import { durationText, lossText, restoreCursorOnExit } from '../progress.js';

export interface GroupInfo {
  id: number;
  label: string; // e.g. "qkv ×25" or "qv dModel=16 ×25"
  runs: number;
  steps: number; // the step every run of the group ends at
  startStep: number; // where it starts (a resumed group starts at its checkpoint)
}

/** Plain progress lines, at most one per this many ms: a CI log stays readable for a 200-run sweep. */
export const PLAIN_EVERY_MS = 60_000;
/** The terminal bar's ETA and elapsed time are recomputed this often, even while no group reports. */
const REFRESH_MS = 1000;

interface GroupState {
  info: GroupInfo;
  step: number;
  loss: number | null;
  bar: cliProgress.SingleBar | null;
  done: boolean;
  finished: boolean; // trained to its last step (an interrupted or failed group ended early)
}

export class SweepProgress {
  private readonly groups = new Map<number, GroupState>();
  private readonly totalRuns: number;
  private readonly totalSteps: number;
  private readonly started: number;
  private runsDone = 0;
  private groupsDone = 0;
  private readonly statuses: Record<string, number> = {};
  private readonly multi: cliProgress.MultiBar | null;
  private readonly overall: cliProgress.SingleBar | null;
  private readonly timer: NodeJS.Timeout | null;
  private forgetCursor: () => void = () => {};
  private lastPlain: number;
  private firstReport: { at: number; steps: number } | null = null;

  constructor(
    groups: GroupInfo[],
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    for (const info of groups) this.groups.set(info.id, { info, step: info.startStep, loss: null, bar: null, done: false, finished: false });
    this.totalRuns = groups.reduce((a, g) => a + g.runs, 0);
    this.totalSteps = groups.reduce((a, g) => a + g.runs * (g.steps - g.startStep), 0);
    this.started = now();
    this.lastPlain = this.started;
    if (stream.isTTY) {
      this.multi = new cliProgress.MultiBar(
        {
          stream: stream as NodeJS.WriteStream,
          hideCursor: true,
          clearOnComplete: false,
          autopadding: true,
          fps: 5,
          format: 'sweep [{bar}] {percentage}% | runs {runsDone}/{runs} | run-steps {value}/{total} | {elapsedText} elapsed | ETA {etaText}',
        },
        cliProgress.Presets.shades_classic,
      );
      this.overall = this.multi.create(this.totalSteps, 0, this.payload());
      this.forgetCursor = restoreCursorOnExit(stream);
      this.timer = setInterval(() => this.overall?.update(this.stepsDone(), this.payload()), REFRESH_MS);
      this.timer.unref();
    } else {
      this.multi = null;
      this.overall = null;
      this.timer = null;
      this.write(`sweep: ${this.totalRuns} runs in ${groups.length} group(s), ${this.totalSteps} run-steps; a progress line at most once a minute`);
    }
  }

  private stepsDone(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.info.runs * ((g.finished ? g.info.steps : g.step) - g.info.startStep);
    return n;
  }

  private elapsed(): number {
    return (this.now() - this.started) / 1000;
  }

  /**
   * Remaining time at the average rate in run-steps (groups weigh by their work) since the first report:
   * the workers' start-up (loading TensorFlow.js, a few seconds) happens once and must not be extrapolated.
   */
  eta(): number | null {
    const done = this.stepsDone();
    if (this.firstReport === null || done <= this.firstReport.steps) return null;
    const rate = (done - this.firstReport.steps) / (this.now() - this.firstReport.at);
    return (this.totalSteps - done) / rate / 1000;
  }

  private payload() {
    const eta = this.eta();
    // Not `eta` or `elapsed`: cli-progress fills those names itself and would overwrite them.
    return {
      runsDone: this.runsDone,
      runs: this.totalRuns,
      elapsedText: durationText(this.elapsed()),
      etaText: eta === null ? '-' : durationText(eta),
    };
  }

  private write(line: string): void {
    if (this.multi) this.multi.log(line + '\n');
    else this.stream.write(line + '\n');
  }

  /** A line that must be seen now (a stop request, a failure); on a terminal it scrolls above the bars. */
  log(line: string): void {
    this.write(line);
  }

  /** A group reports the step it reached and the median train loss of its runs there. */
  update(id: number, step: number, loss: number | null): void {
    const g = this.groups.get(id);
    if (!g || g.done) return;
    g.step = step;
    if (loss !== null) g.loss = loss;
    this.firstReport ??= { at: this.now(), steps: this.stepsDone() };
    if (this.multi) {
      g.bar ??= this.multi.create(
        g.info.steps,
        g.info.startStep,
        { loss: '-' },
        { format: `  ${g.info.label.padEnd(18)} [{bar}] step {value}/{total} | train loss {loss}` },
      );
      g.bar.update(step, { loss: lossText(g.loss) });
      this.overall!.update(this.stepsDone(), this.payload());
    } else this.maybePlainLine();
  }

  private maybePlainLine(): void {
    if (this.now() - this.lastPlain < PLAIN_EVERY_MS) return;
    this.lastPlain = this.now();
    const active = [...this.groups.values()].filter((g) => !g.done && g.step > g.info.startStep);
    const pct = this.totalSteps ? Math.floor((100 * this.stepsDone()) / this.totalSteps) : 100;
    const eta = this.eta();
    const losses = active.map((g) => `${g.info.label} ${lossText(g.loss)}`).join(', ');
    this.write(
      `sweep: ${this.runsDone}/${this.totalRuns} runs, ${pct}% of run-steps, ${durationText(this.elapsed())} ` +
        `elapsed, ETA ${eta === null ? '-' : durationText(eta)}${losses ? `; train loss: ${losses}` : ''}`,
    );
  }

  /** A group finished (or failed): its statuses are counted, and on a terminal a line says so, in finishing order. */
  groupDone(id: number, outcome: { statuses: string[] } | { error: string }): void {
    const g = this.groups.get(id);
    if (!g || g.done) return;
    g.done = true;
    this.groupsDone++;
    // Finished runs only: an interrupted run is not done, and the next run of the command continues it.
    const finished = 'statuses' in outcome ? outcome.statuses.filter((s) => s === 'completed' || s === 'diverged').length : 0;
    g.finished = finished === g.info.runs;
    this.runsDone += finished;
    if (g.bar) this.multi!.remove(g.bar);
    const statuses = 'statuses' in outcome ? outcome.statuses : g.info.runs > 0 ? Array<string>(g.info.runs).fill('failed') : [];
    for (const s of statuses) this.statuses[s] = (this.statuses[s] ?? 0) + 1;
    const counts = 'error' in outcome ? `failed: ${outcome.error}` : countText(outcome.statuses);
    const line =
      `sweep: ${this.groupsDone}/${this.groups.size} groups ended: ${g.info.label} (${counts}) — ` +
      `${this.runsDone}/${this.totalRuns} runs, ${durationText(this.elapsed())}`;
    if (this.multi) {
      this.overall!.update(this.stepsDone(), this.payload());
      this.write(line);
    } else if ('error' in outcome)
      this.write(line); // a failure is news at once, even in a log
    else this.maybePlainLine();
  }

  /** Ends the display; off a terminal, one closing line sums the sweep up. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.multi) {
      this.overall!.update(this.stepsDone(), this.payload());
      this.multi.update(); // flushes lines logged since the last redraw: stop() alone would drop them
      this.multi.stop();
      this.forgetCursor();
    } else if (this.groupsDone > 0) {
      this.write(
        `sweep: ${this.groupsDone}/${this.groups.size} groups ended, ${this.runsDone}/${this.totalRuns} runs finished ` +
          `(${countText(Object.entries(this.statuses).flatMap(([s, n]) => Array<string>(n).fill(s)))}) in ${durationText(this.elapsed())}`,
      );
    }
  }
}

function countText(statuses: string[]): string {
  const counts = statuses.reduce<Record<string, number>>((a, s) => ({ ...a, [s]: (a[s] ?? 0) + 1 }), {});
  return (
    Object.entries(counts)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ') || 'no runs'
  );
}
