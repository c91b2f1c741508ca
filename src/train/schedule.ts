/**
 * The training schedule: the learning rate at each step and the steps that are logged. Plain numbers, no
 * TensorFlow.js, so resuming a run and reading a finished one can follow the schedule without loading an engine.
 */

/** The learning rate at `step`: linear warmup to the base rate over `warmup` steps, constant after. */
export function lrAt(base: number, step: number, warmup: number): number {
  return warmup > 0 ? base * Math.min(1, (step + 1) / warmup) : base;
}

/** The logged steps: every logEvery, and always the last. Snapshots at the first, middle and last of them. */
export function logSteps(steps: number, logEvery: number): { logged: number[]; snapshots: Set<number> } {
  const logged: number[] = [];
  for (let s = 0; s < steps; s += logEvery) logged.push(s);
  logged.push(steps);
  const middle = logged.find((s) => s >= steps / 2) ?? steps;
  return { logged, snapshots: new Set([0, middle, steps]) };
}
