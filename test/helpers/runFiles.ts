/** Reading a run directory's files the way the resume and fault tests compare them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const TIMING_COLUMNS = 2; // elapsed_s and steps_per_s are the last two columns

/** metrics.csv without the timing columns: what must match between an interrupted and an uninterrupted run. */
export function metricsWithoutTiming(dir: string): string {
  return readFileSync(join(dir, 'metrics.csv'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(',').slice(0, -TIMING_COLUMNS).join(','))
    .join('\n');
}
