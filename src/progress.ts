import cliProgress from 'cli-progress';

export interface Progress {
  update(step: number, info: { loss: number; acc: number; stepsPerS: number }): void;
  stop(): void;
}

/** A progress bar on a terminal; plain lines (about ten per group) when output is a file or CI log. */
export function makeProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {sps} steps/s`, stream, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { loss: '-', acc: '-', sps: '-' });
    return {
      update: (step, i) => bar.update(step, { loss: i.loss.toFixed(3), acc: i.acc.toFixed(3), sps: i.stepsPerS.toFixed(0) }),
      stop: () => bar.stop(),
    };
  }
  let nextReport = 0;
  return {
    update(step, i) {
      if (step < nextReport && step < total) return;
      nextReport = step + Math.max(1, Math.ceil(total / 10));
      stream.write(`${label} step ${step}/${total} loss ${i.loss.toFixed(4)} acc ${i.acc.toFixed(3)} ${i.stepsPerS.toFixed(1)} steps/s\n`);
    },
    stop() {},
  };
}
