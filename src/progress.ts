import cliProgress from 'cli-progress';

/** 3 significant digits: late in training a loss of 0.0004 must not read 0.000. */
export const lossText = (x: number | null) => (x === null || !Number.isFinite(x) ? '-' : x.toPrecision(3));

/** Seconds as "42 s", "3:07" or "1:02:03". */
export function durationText(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export interface Progress {
  update(step: number, info: { loss: number; acc: number; stepsPerS: number }): void;
  stop(): void;
}

/**
 * A progress bar on a terminal (elapsed time, ETA, eval loss to 3 significant digits); plain lines
 * (about ten per group) when output is a file or CI log. `start` is the step a resumed run continues from.
 */
export function makeProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr, start = 0, now: () => number = Date.now): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} | {duration_formatted} elapsed | ETA {eta_formatted} | eval loss {loss} | acc {acc} | {sps} steps/s`, stream, hideCursor: true, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, { loss: '-', acc: '-', sps: '-' });
    return {
      update: (step, i) => bar.update(step, { loss: lossText(i.loss), acc: i.acc.toFixed(3), sps: i.stepsPerS.toFixed(0) }),
      stop: () => bar.stop(),
    };
  }
  const started = now();
  let nextReport = 0;
  return {
    update(step, i) {
      if (step < nextReport && step < total) return;
      nextReport = step + Math.max(1, Math.ceil(total / 10));
      const elapsed = (now() - started) / 1000;
      const eta = step > start ? (elapsed * (total - step)) / (step - start) : NaN;
      stream.write(`${label} step ${step}/${total} | ${durationText(elapsed)} elapsed | ETA ${durationText(eta)} | eval loss ${lossText(i.loss)} | acc ${i.acc.toFixed(3)} | ${i.stepsPerS.toFixed(1)} steps/s\n`);
    },
    stop() {},
  };
}
