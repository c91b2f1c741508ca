/**
 * A test hook for the full-disk path where no tiny file system can be mounted: with
 * QKV_LAB_TEST_ENOSPC=<n>[:<text>], the first n writes to paths containing <text> (any path when absent)
 * succeed and every later one fails with ENOSPC, before a byte is written, as a full disk would.
 * Counted per process, so each sweep worker counts its own writes.
 */
const VARIABLE = 'QKV_LAB_TEST_ENOSPC';

let plan: { allowed: number; match: string } | null | undefined;
let seen = 0;

function parsePlan(): { allowed: number; match: string } | null {
  const value = process.env[VARIABLE];
  if (value === undefined || value === '') return null;
  const m = /^(\d+)(?::(.*))?$/.exec(value);
  if (!m) throw new Error(`${VARIABLE} must be <n> or <n>:<text>, got '${value}'`);
  return { allowed: Number(m[1]), match: m[2] ?? '' };
}

/** Throws the ENOSPC a full disk would give, when the test hook says this write is one too many. */
export function checkInjectedFault(path: string): void {
  if (plan === undefined) plan = parsePlan();
  if (!plan || !path.includes(plan.match)) return;
  seen++;
  if (seen > plan.allowed) {
    throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC', errno: -28, syscall: 'write', path });
  }
}
