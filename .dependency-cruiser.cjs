/**
 * Import rules for src/ (dependency-cruiser, run by `npm run lint`). The layout is a flow: each folder is
 * one stage and imports only point down (README, "Design"). These rules keep it that way; each says why.
 * What may load TensorFlow.js is checked on its own (.dependency-cruiser-tfjs.cjs), since only imports that
 * run at load time count there. CommonJS (.cjs) because package.json says "type": "module" and
 * dependency-cruiser loads its config with require.
 */

/**
 * The stages of the flow, top to bottom. A module may import its own folder and anything in a lower layer,
 * never a higher layer nor a sibling in its own layer. This is what makes a cycle between folders impossible
 * (no-circular sees only cycles between files: config → train/schema and train/spec → runs/records →
 * runs/resume → config was a folder cycle with no file cycle in it).
 */
const LAYERS = [
  { name: 'entry', why: 'the CLI and the benchmark are entry points; nothing imports them', paths: ['^src/(cli|cliHints|bench|api)\\.ts$'] },
  { name: 'commands', why: 'each command wires the stages below together and stays thin', paths: ['^src/commands/'] },
  {
    name: 'sweep-report',
    why: 'the sweep trains runs and the report renders them; neither needs the other (the protocol they share is in src/analysis/)',
    paths: ['^src/sweep/', '^src/report/'],
  },
  {
    name: 'analysis',
    why: 'the protocol, verdicts and claims: numbers and judgements over loaded runs, no I/O of its own',
    paths: ['^src/analysis/'],
  },
  { name: 'runs', why: 'a run directory end to end: lock, train a group, checkpoint, resume', paths: ['^src/runs/'] },
  {
    name: 'extend',
    why: "users' modules: loaded, checked and recorded in the config before anything trains; the define… helpers they are written with",
    paths: ['^src/extend/'],
  },
  { name: 'config', why: 'merges and validates a config from the schemas each stage below declares', paths: ['^src/config\\.ts$'] },
  { name: 'train', why: 'the task-agnostic loop and its engines; it writes nothing itself, rows leave through hooks', paths: ['^src/train/'] },
  { name: 'metrics', why: "per-eval figures computed from the model's attention", paths: ['^src/metrics/'] },
  { name: 'model', why: 'the tfjs model and the fused kernel', paths: ['^src/model/'] },
  {
    name: 'records',
    why: 'run-file formats, shared by everything above (their reader, src/runs/read.ts, validates config.json, so it sits above config)',
    paths: ['^src/records/'],
  },
  { name: 'tasks', why: 'the synthetic tasks: pure, seeded', paths: ['^src/tasks/'] },
  { name: 'stats', why: 'pure statistics', paths: ['^src/stats/'] },
  {
    name: 'base',
    why: 'seeded streams, atomic files, progress bars, the one number formatter and the backend choice',
    paths: ['^src/(progress|rng|backend|format)\\.ts$', '^src/files/'],
  },
  { name: 'leaves', why: 'error types and backend names, importable from anywhere', paths: ['^src/(errors|backend-names|modulePath)\\.ts$'] },
];

/**
 * Inside src/report/, the same idea one level down: the report directory's writer on top, then the HTML page,
 * the charts, the text, and the data they all draw from. The HTML renders the text's structure and inlines the
 * charts; the charts take the one number formatter (src/format.ts) and the data, never the prose; the data
 * (reading runs, their analysis, the claims, the exports) knows nothing of how it will be shown.
 */
const REPORT_LAYERS = [
  { name: 'report-writer', why: 'write.ts writes a report directory from the stages below', paths: ['^src/report/[^/]+\\.ts$'] },
  { name: 'report-html', why: 'the HTML page, rendered from the report structure with the charts inline', paths: ['^src/report/html/'] },
  { name: 'report-charts', why: 'one theme, one file per chart, one render path', paths: ['^src/report/charts/'] },
  { name: 'report-text', why: 'the Markdown, the claims section and the terminal lines, as the report structure', paths: ['^src/report/text/'] },
  { name: 'report-data', why: 'runs read back, their analysis and claims, the chart data and the CSV exports', paths: ['^src/report/data/'] },
];

/** One rule per module group: no import of a higher layer, nor of a sibling group in the same layer. */
function layerRules(layers) {
  return layers.flatMap((layer, i) =>
    layer.paths
      .map((path) => {
        const above = layers.slice(0, i).flatMap((l) => l.paths);
        const siblings = layer.paths.filter((p) => p !== path);
        return {
          name: `layer-${layer.name}`,
          comment: `Imports point down the flow: ${layer.why}. So ${path} imports no higher layer and no sibling of its own layer.`,
          severity: 'error',
          from: { path },
          to: { path: [...above, ...siblings] },
        };
      })
      .filter((rule) => rule.to.path.length > 0),
  );
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'A cycle means neither side can be read, tested or loaded without the other, and the order modules ' +
        'initialise in depends on who is imported first. Put what both need in a module below both.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'stats-is-pure',
      comment:
        'src/stats/ is pure numbers (the one exact Mann-Whitney, sign tests, bootstrap, sensitivity): it is ' +
        'the bottom of the flow, so it imports no other src/ folder, only the seeded streams of src/rng.ts ' +
        '(the bootstrap resamples). Anything it needed from above would make the statistics depend on formats or prose.',
      severity: 'error',
      from: { path: '^src/stats/' },
      to: { path: '^src/', pathNot: ['^src/stats/', '^src/rng\\.ts$'] },
    },
    {
      name: 'records-are-formats',
      comment:
        'src/records/ holds the run-file formats: the trainer, the metrics, the resume, the sweep and the report ' +
        'all import it, so it must import none of them (only the task types a format names, errors ' +
        'and the file helpers). Otherwise the folders it serves would form a cycle through it.',
      severity: 'error',
      from: { path: '^src/records/' },
      to: { path: '^src/', pathNot: ['^src/records/', '^src/tasks/types\\.ts$', '^src/errors\\.ts$', '^src/files/'] },
    },
    ...layerRules(LAYERS),
    ...layerRules(REPORT_LAYERS),
  ],
  options: {
    // Third-party packages are leaves: their own imports are not ours to rule, but reaching one is visible.
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type import in the wrong direction is still a design dependency.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
