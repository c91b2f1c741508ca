// Re-analyses a committed report from its exported tables (runs.csv, metrics_long.csv) with this build's analysis and
// prints what moved against its committed verdict.json. The input-scale runs are not exported, so the scale claim is
// skipped. Usage, after npm run build: node examples/reanalyse-exports.mjs runs/reference-width
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { resolveConfig } from '../dist/config.js';
import { analyse } from '../dist/report/data/analyse.js';
import { analyseClaims } from '../dist/report/data/claims.js';
import { verdictJson } from '../dist/commands/compare.js';
import { claimsJson } from '../dist/report/text/claimsMarkdown.js';
const dir = process.argv[2];
const num = (v) => (v === '' ? null : v === 'true' ? true : v === 'false' ? false : isNaN(Number(v)) ? v : Number(v));
const runsCsv = parse(readFileSync(join(dir, 'runs.csv'), 'utf8'), { columns: true });
const metrics = parse(readFileSync(join(dir, 'metrics_long.csv'), 'utf8'), { columns: true });
const rowsByDir = new Map();
for (const m of metrics) {
  const r = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, num(v)]));
  (rowsByDir.get(m.dir) ?? rowsByDir.set(m.dir, []).get(m.dir)).push(r);
}
const CONFIG_ROOTS = ['task', 'model', 'train', 'eval'];
const runs = runsCsv.map((r) => {
  const cfg = { name: r.name };
  for (const [k, v] of Object.entries(r)) {
    const [root, key] = k.split('.');
    if (CONFIG_ROOTS.includes(root) && key && v !== '') (cfg[root] ??= {})[key] = num(v);
  }
  const config = resolveConfig(cfg);
  const summary = Object.fromEntries(
    Object.entries(r)
      .filter(([k]) => !k.includes('.'))
      .map(([k, v]) => [k, num(v)]),
  );
  summary.attention = r.attention;
  summary.status = r.status;
  return { dir: r.dir, config, summary, rows: rowsByDir.get(r.dir) ?? [], attention: null };
});
const a = analyse(runs);
const claims = analyseClaims(a, runs, []);
const now = { ...verdictJson(a, runs.length), claims: claimsJson(claims) };
const old = JSON.parse(readFileSync(join(dir, 'verdict.json'), 'utf8'));
console.log(`== ${dir}: ${runs.length} runs`);
const mean = (xs) => xs.reduce((x, y) => x + y, 0) / xs.length;
const fmt = (x, digits = 3) => (typeof x === 'number' ? x.toPrecision(digits) : String(x));
for (const [i, s] of now.series.entries()) {
  const o = old.series[i];
  const w = s.lr_window;
  const window = w ? `${w.reading} p ${fmt(w.p, 2)} (qv ${mean(w.qv).toFixed(2)} vs qkv ${mean(w.qkv).toFixed(2)})` : 'n/a';
  console.log(
    `  ${s.label || '(one series)'}: holds ${o.holds} -> ${s.holds}; ratio ${fmt(o.ratio)} -> ${fmt(s.ratio)}; ` +
      `p ${fmt(o.p)} -> ${fmt(s.p)}; never learned ${JSON.stringify(s.never_learned)}; window ${window}`,
  );
  for (const c of s.against_qkv ?? []) {
    const oc = o.against_qkv?.find((x) => x.variant === c.variant);
    console.log(`    ${c.variant}: ratio ${fmt(oc?.ratio)} -> ${fmt(c.ratio)}, p_holm ${fmt(oc?.p_holm, 2)} -> ${fmt(c.p_holm, 2)}`);
  }
}
for (const c of now.claims) {
  if (c.id === 'scale-sensitive') continue;
  const o = (old.claims ?? []).find((x) => x.id === c.id && x.series === c.series && x.variant === c.variant);
  const mark = o && o.verdict !== c.verdict ? '  <== CHANGED' : '';
  console.log(`  claim ${c.series || ''} ${c.variant} ${c.id}: ${o?.verdict} -> ${c.verdict}${mark}; where: ${o?.where} -> ${c.where}`);
}
