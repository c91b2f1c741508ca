/** The `--seeds` flag: a set of seeds written as ranges and single values, e.g. `0-19`, `100-119`, `0,1,2`, `0-4,10-14`. */
import { UserError } from '../errors.js';

/** Largest seed: the run's seeded streams take a 31-bit integer. */
const MAX_SEED = 2 ** 31 - 1;
/** More seeds than any study here needs, and few enough that a typo like 0-1000000 fails instead of planning a million runs. */
const MAX_SEEDS = 10_000;

/** Parses a seed set; a malformed part, an empty range, or a seed listed twice is a one-line user error. */
export function parseSeedSet(text: string): number[] {
  if (text.trim() === '') throw new UserError('--seeds is empty; name at least one seed, e.g. --seeds 0-4');
  const parts = text.split(',').map((s) => s.trim());
  const seeds: number[] = [];
  for (const part of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new UserError(`--seeds expects seeds and ranges such as 0-19 or 0,1,2, got '${text}' ('${part}' is not a seed or a range)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > MAX_SEED || to > MAX_SEED) throw new UserError(`--seeds: seeds go up to ${MAX_SEED}, got '${part}'`);
    if (to < from) throw new UserError(`--seeds: the range '${part}' is empty (it runs downward); write ${to}-${from}`);
    if (seeds.length + (to - from + 1) > MAX_SEEDS) throw new UserError(`--seeds: '${text}' lists more than ${MAX_SEEDS} seeds`);
    for (let s = from; s <= to; s++) seeds.push(s);
  }
  const seen = new Set<number>();
  for (const s of seeds) {
    if (seen.has(s)) throw new UserError(`--seeds lists seed ${s} twice: '${text}'`);
    seen.add(s);
  }
  return seeds;
}
