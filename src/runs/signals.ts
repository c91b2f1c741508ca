/**
 * Ctrl-C and SIGTERM: the first asks the trainer to stop at the next step boundary (it checkpoints and
 * marks the run interrupted); the second exits at once. Every file is written atomically or in whole
 * lines, so even the second leaves valid files.
 */
let stopRequested = false;
let installed = false;

export const INTERRUPTED_EXIT = 130;

export function installStopHandler(onFirst: () => void = () => {}): void {
  if (installed) return;
  installed = true;
  const handler = () => {
    if (stopRequested) process.exit(INTERRUPTED_EXIT);
    stopRequested = true;
    onFirst();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export function isStopRequested(): boolean {
  return stopRequested;
}
