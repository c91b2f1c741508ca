/** The report's account of the runs it could not use: damaged ones skipped, and planned ones never started. */
import type { SkippedRun } from '../data/collect.js';

export interface LeftOut {
  skipped: SkippedRun[];
  notStarted: string[];
  /** Runs another process was still writing, as "dir (pid N@host)". */
  inProgress?: string[];
}

/** One line for beside the verdict, so nobody reads it as computed from every run; empty when none is missing. */
export function besideVerdict({ skipped, notStarted, inProgress = [] }: LeftOut): string[] {
  const parts = [
    skipped.length ? `${skipped.length} skipped run(s) with damaged files` : '',
    notStarted.length ? `${notStarted.length} planned run(s) not started` : '',
    inProgress.length ? `${inProgress.length} run(s) still in progress` : '',
  ].filter(Boolean);
  return parts.length ? [`_The verdict above is computed without ${parts.join(' and ')}; they are listed under "Runs left out"._`, ''] : [];
}

/** The section naming each run left out and why. */
export function leftOutSection({ skipped, notStarted, inProgress = [] }: LeftOut): string[] {
  if (!skipped.length && !notStarted.length && !inProgress.length) return [];
  const out = ['## Runs left out', ''];
  if (skipped.length)
    out.push(
      `Skipped (a file is missing, cut short or malformed; \`compare --strict\` refuses instead):`,
      '',
      ...skipped.map((s) => `- \`${s.dir}\`: ${s.reason}`),
      '',
    );
  if (notStarted.length) out.push('Not started (planned by the sweep, never run):', '', ...notStarted.map((d) => `- \`${d}\``), '');
  if (inProgress.length)
    out.push(
      'In progress (another process holds their lock and is writing them; compare again once it ends):',
      '',
      ...inProgress.map((d) => `- \`${d}\``),
      '',
    );
  return out;
}
