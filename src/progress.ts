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

/**
 * The bars hide the cursor; a second Ctrl-C exits at once (process.exit), before any bar can stop, so the
 * cursor is shown again on every way out of the process.
 */
export function restoreCursorOnExit(stream: NodeJS.WritableStream): () => void {
  const show = () => void stream.write('\x1b[?25h');
  process.once('exit', show);
  return () => process.off('exit', show);
}

export interface Progress {
  update(step: number, info: { loss: number; acc: number; stepsPerS: number }): void;
  stop(): void;
}

/**
 * A progress bar on a terminal (elapsed time, ETA, eval loss to 3 significant digits); plain lines
 * (about ten per group) when output is a file or CI log. `start` is the step a resumed run continues from.
 */
export function makeProgress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
  start = 0,
  now: () => number = Date.now,
): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} | {elapsedText} elapsed | ETA {etaText} | eval loss {loss} | acc {acc} | {sps} steps/s`,
        stream,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = now();
    // The rate is measured from the first logged row on: compiling the first step takes a while and happens once.
    let first: { at: number; step: number } | null = null;
    const times = () => {
      const rate = first && now() > first.at ? (bar.getProgress() * total - first.step) / (now() - first.at) : 0;
      return {
        elapsedText: durationText((now() - started) / 1000),
        etaText: rate > 0 ? durationText((total - bar.getProgress() * total) / rate / 1000) : '-',
      };
    };
    bar.start(total, start, { loss: '-', acc: '-', sps: '-', ...times() });
    const forgetCursor = restoreCursorOnExit(stream);
    const tick = setInterval(() => bar.update(times()), 1000); // elapsed and ETA move even between logged rows
    tick.unref();
    return {
      update(step, i) {
        first ??= { at: now(), step };
        bar.update(step, { loss: lossText(i.loss), acc: i.acc.toFixed(3), sps: i.stepsPerS.toFixed(0) });
        bar.update(times());
      },
      stop() {
        clearInterval(tick);
        bar.update(times());
        bar.stop();
        forgetCursor();
      },
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
      stream.write(
        `${label} step ${step}/${total} | ${durationText(elapsed)} elapsed | ETA ${durationText(eta)} | eval loss ` +
          `${lossText(i.loss)} | acc ${i.acc.toFixed(3)} | ${i.stepsPerS.toFixed(1)} steps/s\n`,
      );
    },
    stop() {},
  };
}
