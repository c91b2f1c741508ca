/**
 * `npm run bench`: where the time goes. Prints a table and writes bench.json. Timings live here, never in tests.
 * `npm run bench -- --ratio-only` repeats just the ablation against the PyTorch peer (for a median on a noisy machine).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir, availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf, type BackendName } from './backend.js';
import { loadConfigFile, resolveConfig, type Config } from './config.js';
import { makeTask } from './tasks/index.js';
import { loadEvalSet } from './tasks/evalset.js';
import { buildGroup } from './runs/groupSpec.js';
import { trainGroup, type KernelChoice } from './train/trainer.js';
import { kernelPass } from './train/fusedEngine.js';
import { paramSpecs } from './model/params.js';
import { stepFlops, deepStepFlops, ADAM_FLOPS_PER_PARAMETER } from './model/flops.js';
import { loadSweep } from './sweep/plan.js';
import { createHash } from 'node:crypto';
import { Stream } from './rng.js';
import { medianOf } from './stats/describe.js';
import { initialValues, stackedValues } from './model/paramSpecs.js';
import { useKernelBuild, type Precision } from './model/kernel.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
/** The scaling runs need eval sets of other shapes; they go to a scratch directory, not the project's data/. */
const SCRATCH_DATA = mkdtempSync(join(tmpdir(), 'qkv-bench-data-'));

interface Timed {
  seconds: number;
  evals: number;
}

/** Trains R runs of `cfg` for `steps` steps; logEvery > steps leaves only the first and last evaluation. */
async function timeGroup(
  cfg: Config,
  R: number,
  steps: number,
  logEvery: number,
  kernel: KernelChoice = 'auto',
  precision?: Precision,
): Promise<Timed> {
  const task = makeTask(cfg.task);
  const evalSet = loadEvalSet(SCRATCH_DATA, task, cfg.eval);
  let evals = 0;
  const runs = Array.from({ length: R }, (_, r) => ({ seed: r, lr: cfg.train.lr }));
  const { spec } = buildGroup(
    cfg.model,
    { ...cfg.train, steps, logEvery, kernel, precision: precision ?? cfg.train.precision },
    task,
    evalSet.encoded,
    runs,
    {
      snapshotExamples: 4,
      onRows: async () => void evals++,
      onSnapshot: async () => {},
    },
  );
  const started = performance.now();
  await trainGroup(spec);
  return { seconds: (performance.now() - started) / 1000, evals };
}

/** Steps per second of training alone: the difference between a long and a short run cancels set-up and the two evaluations. */
async function trainStepsPerS(cfg: Config, R: number, steps: number, kernel: KernelChoice = 'auto'): Promise<number> {
  const short = await timeGroup(cfg, R, Math.max(1, Math.floor(steps / 5)), 1e9, kernel);
  const long = await timeGroup(cfg, R, steps, 1e9, kernel);
  return (steps - Math.floor(steps / 5)) / (long.seconds - short.seconds);
}

/**
 * A lone run's training pass on one batch (loss and gradients, the kernel auto picks for it) and the drawing of one
 * batch, each in µs: the fastest of 3 timings of about 0.3 s, so the parts of a lone step can be set beside it.
 */
function loneParts(cfg: Config): { passUs: number; drawUs: number } {
  const task = makeTask(cfg.task);
  const params = stackedValues(cfg.model, task.layout, [initialValues(cfg.model, task.layout, 0)]);
  const grads = new Map([...params].map(([path, v]) => [path, new Float32Array(v.length)]));
  const rng = Stream.derive(0, 'bench/lone');
  const batch = task.draw(rng, cfg.train.batchSize);
  const kernel = kernelPass(cfg.model, task.layout, 1, cfg.train.precision).pass; // the engine's way
  const fastest = (work: () => void) => {
    work(); // warm up
    let reps = 1;
    for (let t = performance.now(); performance.now() - t < 30; reps++) work();
    reps *= 10; // about 0.3 s a timing
    return (
      (fastestSeconds(3, () => {
        for (let i = 0; i < reps; i++) work();
      }) *
        1e6) /
      reps
    );
  };
  return { passUs: fastest(() => kernel.pass(params, [batch], grads)), drawUs: fastest(() => task.draw(rng, cfg.train.batchSize)) };
}

/** `measure`, with the f64x2 ceiling measured just before and just after it (the mean of the two; about 0.1 s each). */
async function aroundCeiling<T>(measure: () => Promise<T>): Promise<{ value: T; ceiling: number }> {
  const before = simdCeilingGflops()!;
  const value = await measure();
  return { value, ceiling: (before + simdCeilingGflops()!) / 2 };
}

/** Trainable numbers per run (Adam's share of the arithmetic counts them). */
function parameterCount(cfg: Config): number {
  const layout = makeTask(cfg.task).layout;
  return [...paramSpecs(cfg.model, layout).values()].reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/** Runs the CLI and tracks the peak resident memory of its whole process tree from /proc. */
function runTimed(args: string[]): Promise<{ seconds: number; peakRssMb: number; code: number | null }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    let peak = 0;
    const poll = setInterval(() => (peak = Math.max(peak, treeRssKb(child.pid!))), 100);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ seconds: (performance.now() - started) / 1000, peakRssMb: peak / 1024, code });
    });
  });
}

function treeRssKb(root: number): number {
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      parent.set(Number(entry), Number(/PPid:\s+(\d+)/.exec(status)?.[1]));
      rss.set(Number(entry), Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // the process ended while we looked
    }
  }
  const inTree = (pid: number): boolean => pid === root || (parent.has(pid) && pid > 1 && inTree(parent.get(pid)!));
  return [...rss.entries()].filter(([pid]) => inTree(pid)).reduce((a, [, kb]) => a + kb, 0);
}

async function main(): Promise<void> {
  const skipAblation = process.argv.includes('--no-ablation');
  // --ratio-only: just the default ablation and the PyTorch peer, for repeating the ratio on a noisy machine.
  const ratioOnly = process.argv.includes('--ratio-only');
  const base = resolveConfig(loadConfigFile(join(ROOT, 'configs', 'lookup.yaml')));
  // Speed differs between machines (the same build was 6.1–9.4× PyTorch on two of this project's): say which one this is.
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const results: Record<string, unknown> = { date: new Date().toISOString(), cpu, cores: availableParallelism(), node: process.version };
  const line = (s: string) => process.stdout.write(s + '\n');
  line(`machine: ${cpu}, ${availableParallelism()} cores, Node ${process.version}`);

  if (ratioOnly) return ratio(results, line, base, false, false);
  const abAt = process.argv.indexOf('--ab');
  if (abAt >= 0) return ab(line, process.argv[abAt + 1]);
  if (process.argv.includes('--goals')) return goals(results, line, base);

  // 1. One run (R = 1) of the tfjs graph on every backend that loads here. Backends cannot be switched back
  //    and forth cheaply inside one process, so each gets a child process.
  const perBackend: Record<string, number | string> = {};
  for (const backend of ['node', 'wasm', 'cpu'] as BackendName[]) {
    perBackend[backend] = await new Promise<number | string>((resolve) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--single', backend], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', () => resolve(Number.isFinite(Number(out.trim())) && out.trim() !== '' ? Number(out.trim()) : 'not available'));
    });
  }
  results.tfjs_single_run_steps_per_s = perBackend;
  const backend = await initBackend('auto');
  results.backend = backend;
  line(`backend (auto): ${backend}`);
  line('single run (R = 1) of the tfjs graph, configs/lookup.yaml, training steps/s:');
  for (const [name, v] of Object.entries(perBackend)) line(`  ${name.padEnd(6)} ${typeof v === 'number' ? v.toFixed(1) : v}`);

  // 2. Cost against R, for the fused kernel (the default) and the tfjs graph.
  const byR: { kernel: string; R: number; steps_per_s: number; run_steps_per_s: number; ms_per_step: number }[] = [];
  line('batched groups (training only):\n  kernel  R     steps/s   run-steps/s   ms/step   × R=1');
  for (const kernel of ['fused', 'tfjs'] as const) {
    for (const R of kernel === 'fused' ? [1, 5, 25, 50] : [1, 25]) {
      const sps = await trainStepsPerS(base, R, kernel === 'tfjs' ? (R >= 25 ? 100 : 300) : R >= 25 ? 300 : 1000, kernel);
      const first = byR.find((b) => b.kernel === kernel)?.run_steps_per_s ?? sps * R;
      byR.push({ kernel, R, steps_per_s: sps, run_steps_per_s: sps * R, ms_per_step: 1000 / sps });
      line(
        `  ${kernel.padEnd(7)} ${String(R).padEnd(5)} ${sps.toFixed(1).padStart(7)}   ` +
          `${(sps * R).toFixed(0).padStart(11)}   ${(1000 / sps).toFixed(2).padStart(7)}   ${((sps * R) / first).toFixed(1).padStart(5)}`,
      );
    }
  }
  results.by_group_size = byR;

  // 2b. The distance to the hardware: the kernel's counted arithmetic per step (model/flops.ts) at the measured
  // rates, against a tight loop of the same float64 multiply-adds on this core.
  const layout = makeTask(base.task).layout;
  const parameters = parameterCount(base);
  const flops = stepFlops(base.model, layout, base.train.batchSize, base.eval.size, parameters);
  const ceiling = scalarCeilingGflops();
  const simdCeiling = simdCeilingGflops();
  const chainCeiling = simdCeilingGflops(true);
  const lone = byR.find((b) => b.kernel === 'fused' && b.R === 1)!;
  const group = byR.find((b) => b.kernel === 'fused' && b.R === 25)!;
  const gflops = (runStepsPerS: number) => (runStepsPerS * flops.training) / 1e9;
  results.flops = {
    per_training_step: flops.training,
    per_evaluation: flops.evaluation,
    scalar_ceiling_gflops: ceiling,
    simd_ceiling_gflops: simdCeiling,
    simd_one_chain_gflops: chainCeiling,
  };
  results.gflops_per_core = { fused_r1: gflops(lone.run_steps_per_s), fused_r25: gflops(group.run_steps_per_s) };
  const perStep = `${(flops.training / 1e3).toFixed(0)} kFLOP per training step (batch ${base.train.batchSize})`;
  line(`arithmetic: ${perStep}, ${(flops.evaluation / 1e6).toFixed(2)} MFLOP per evaluation, per run`);
  const [r1, r25] = [gflops(lone.run_steps_per_s), gflops(group.run_steps_per_s)];
  line(`  fused R = 1: ${r1.toFixed(2)} GFLOP/s per core; R = 25: ${r25.toFixed(2)}`);
  line(
    `  scalar float64 multiply-add ceiling on this core: ${ceiling.toFixed(2)} GFLOP/s; R = 1 reaches ${((100 * r1) / ceiling).toFixed(0)}% of it`,
  );
  if (simdCeiling !== null)
    line(
      `  f64x2 (wasm SIMD, as the kernel uses) multiply-add ceiling: ${simdCeiling.toFixed(2)} GFLOP/s; ` +
        `R = 1 reaches ${((100 * r1) / simdCeiling).toFixed(0)}% of it`,
    );
  if (chainCeiling !== null)
    line(
      `  the same with one dependent chain per lane (a sum in the scalar order, as each of the kernel's is): ` +
        `${chainCeiling.toFixed(2)} GFLOP/s; R = 1 reaches ${((100 * r1) / chainCeiling).toFixed(0)}% of it`,
    );

  // 3. Training against evaluation, for the ablation's group (R = 25) at its logging interval. Evaluation is timed
  // by a short group that evaluates every step against the same group evaluating only at its ends: evaluation then
  // dominates the difference, where the difference of two long runs drowned in this machine's drift (it once came
  // out negative). The best of two tries each.
  const R = 25;
  const steps = 40;
  const fastest = async (logEvery: number): Promise<Timed> => {
    const [a, b] = [await timeGroup(base, R, steps, logEvery), await timeGroup(base, R, steps, logEvery)];
    return a.seconds <= b.seconds ? a : b;
  };
  const everyStep = await fastest(1);
  const endsOnly = await fastest(1e9);
  const msPerEval = (1000 * (everyStep.seconds - endsOnly.seconds)) / (everyStep.evals - endsOnly.evals);
  const msPerStep = 1000 / (byR.find((row) => row.kernel === 'fused' && row.R === R)?.steps_per_s ?? NaN);
  const ablationEvals = Math.floor(base.train.steps / base.train.logEvery) + 1;
  const evalShare = (msPerEval * ablationEvals) / (msPerEval * ablationEvals + msPerStep * base.train.steps);
  results.train_vs_eval = {
    R,
    log_every: base.train.logEvery,
    steps: base.train.steps,
    ms_per_eval: msPerEval,
    ms_per_train_step: msPerStep,
    eval_share: evalShare,
  };
  line(
    `time split at R = ${R}, logEvery ${base.train.logEvery}: training ${(100 * (1 - evalShare)).toFixed(0)}%, ` +
      `evaluation ${(100 * evalShare).toFixed(0)}% (${msPerEval.toFixed(1)} ms per evaluation of ${base.eval.size} examples × ${R} runs)`,
  );

  // 4. Scaling with sequence length and width, at R = 25.
  const scaling: { what: string; value: number; ms_per_step: number }[] = [];
  for (const slots of [4, 8, 16, 32]) {
    const cfg = resolveConfig({ ...base, task: { ...base.task, slots, keyVocab: Math.max(base.task.keyVocab, 2 * slots) } });
    scaling.push({ what: 'slots', value: slots, ms_per_step: 1000 / (await trainStepsPerS(cfg, R, 150)) });
  }
  for (const dModel of [4, 8, 16, 32, 64]) {
    const cfg = resolveConfig({ ...base, model: { ...base.model, dModel } });
    scaling.push({ what: 'dModel', value: dModel, ms_per_step: 1000 / (await trainStepsPerS(cfg, R, dModel >= 32 ? 60 : 150)) });
  }
  results.scaling_r25 = scaling;
  line('ms per training step at R = 25 (fused kernel):');
  for (const what of ['slots', 'dModel'])
    line(
      `  ${what.padEnd(7)} ${scaling
        .filter((s) => s.what === what)
        .map((s) => `${s.value}: ${s.ms_per_step.toFixed(1)}`)
        .join('   ')}`,
    );

  await depth(results, line);

  // 5. Tensor count across a long run.
  const before = tf.memory().numTensors;
  await timeGroup(base, 1, 2000, base.train.logEvery);
  results.num_tensors = { before, after: tf.memory().numTensors, steps: 2000 };
  line(`numTensors before and after a 2000-step run: ${before} → ${tf.memory().numTensors}`);

  await ratio(results, line, base, skipAblation, true);
}

/**
 * 4b. Depth: the two-layer MQAR model of configs/mqar.yaml, through the kernel's lanes (assembly/lanes.ts)
 * and the tfjs graph, one run alone and ten batched (the tfjs graph gains most from batching).
 */
async function depth(results: Record<string, unknown>, line: (s: string) => void): Promise<void> {
  const cfg = resolveConfig(loadConfigFile(join(ROOT, 'configs', 'mqar.yaml')));
  const layout = makeTask(cfg.task).layout;
  const parameters = parameterCount(cfg);
  const perStep = deepStepFlops(cfg.model, layout, cfg.train.batchSize, cfg.eval.size, parameters).training;
  const rows: { kernel: string; R: number; run_steps_per_s: number; gflops: number }[] = [];
  line(`two layers (configs/mqar.yaml: d ${cfg.model.dModel}, ${layout.positions} positions, batch ${cfg.train.batchSize}):`);
  line(`  ${(perStep / 1e6).toFixed(1)} MFLOP per training step per run\n  kernel  R    run-steps/s   GFLOP/s per core`);
  for (const kernel of ['fused', 'tfjs'] as const) {
    for (const R of [1, 10]) {
      const runSteps = R * (await trainStepsPerS(cfg, R, kernel === 'fused' ? 150 : 100, kernel));
      rows.push({ kernel, R, run_steps_per_s: runSteps, gflops: (runSteps * perStep) / 1e9 });
      line(
        `  ${kernel.padEnd(7)} ${String(R).padEnd(4)} ${runSteps.toFixed(0).padStart(11)}   ${((runSteps * perStep) / 1e9).toFixed(2).padStart(7)}`,
      );
    }
  }
  // Against the two-layer PyTorch peer (src/peer/torch_mqar.py), both with the same logging (eval of 512 every 50
  // steps) and one core: the fused kernel's run-steps/s for ten runs together, per core, against one peer run's.
  const steps = 600;
  const logged = await timeGroup(cfg, 10, steps, cfg.train.logEvery);
  const kitRunSteps = (10 * steps) / logged.seconds;
  const peer = torchPeer('torch_mqar.py', ['--steps', String(steps)]);
  if (typeof peer === 'string') {
    line(`  PyTorch MQAR peer: not run (${peer})`);
    results.two_layers = { config: 'configs/mqar.yaml', flops_per_training_step: perStep, rows, pytorch: { available: false, reason: peer } };
    return;
  }
  line(
    `  with logging (eval every ${cfg.train.logEvery}), ${steps} steps: fused ×10 ${kitRunSteps.toFixed(0)} run-steps/s; PyTorch ${peer.torch} ` +
      `peer (torch_mqar.py, 1 thread) ${peer.steps_per_s.toFixed(0)} steps/s; ratio ${(kitRunSteps / peer.steps_per_s).toFixed(2)}×`,
  );
  results.two_layers = {
    config: 'configs/mqar.yaml',
    flops_per_training_step: perStep,
    rows,
    logged: { steps, fused_r10_run_steps_per_s: kitRunSteps },
    pytorch: { available: true, ...peer, ratio_qkvlab_over_pytorch: kitRunSteps / peer.steps_per_s },
  };
}

/** A figure measured three times, printed with its median and its goal. */
async function thrice(
  line: (s: string) => void,
  what: string,
  goal: number,
  unit: string,
  measure: () => Promise<number>,
): Promise<Record<string, unknown>> {
  const values: number[] = [];
  for (let i = 0; i < 3; i++) values.push(await measure());
  const median = medianOf(values);
  const met = median >= goal;
  line(
    `  ${what}: ${values.map((v) => v.toFixed(2)).join(' / ')} → median ${median.toFixed(2)}${unit} (goal ≥ ${goal}${unit}: ${met ? 'met' : 'NOT met'})`,
  );
  return { values, median, goal, met };
}

/**
 * `npm run bench -- --goals`: the speed goals of the issue "One fast kernel", each measured three times (median):
 * the default ablation against the PyTorch peer, a lone run's share of the f64x2 ceiling, two-layer MQAR against the
 * tfjs graph and against the two-layer PyTorch peer with the same logging, and QK-norm at d_model 32 against the graph.
 */
async function goals(results: Record<string, unknown>, line: (s: string) => void, base: Config): Promise<void> {
  await initBackend('auto');
  const out: Record<string, unknown> = {};
  line('speed goals, each measured three times (median):');
  const workers = availableParallelism();
  const runCount = loadSweep(join(ROOT, 'configs', 'ablation.yaml'), []).runs.length;
  const peerRates: number[][] = [];
  out.default_ablation_over_pytorch = await thrice(line, `default ablation (${runCount} runs), PyTorch sweep ÷ qkv-lab`, 12, '×', async () => {
    // The peer is timed just before and just after the ablation, and its sweep's time is the mean of the two
    // estimates: the host's speed drifts between minutes, and one peer timing after the ablation alone let a slow
    // stretch of the host land on one side of the ratio only (10.8× and 17.1× in two benches of one build).
    const sweepSeconds = () => {
      const peer = torchPeer();
      if (typeof peer === 'string') throw new Error(`the PyTorch peer did not run: ${peer}`);
      return { rate: peer.steps_per_s, seconds: (runCount * base.train.steps) / (peer.steps_per_s * workers) };
    };
    const before = sweepSeconds();
    const dir = mkdtempSync(join(tmpdir(), 'qkv-bench-'));
    const run = await runTimed(['ablation', 'configs/ablation.yaml', '--out', dir]);
    rmSync(dir, { recursive: true, force: true });
    const after = sweepSeconds();
    peerRates.push([before.rate, after.rate]);
    return (before.seconds + after.seconds) / 2 / run.seconds;
  });
  out.pytorch_steps_per_s_before_after = peerRates;
  line(`    (the peer's steps/s before and after each ablation: ${peerRates.map(([a, b]) => `${a.toFixed(0)} and ${b.toFixed(0)}`).join('; ')})`);
  const layout = makeTask(base.task).layout;
  const flops = stepFlops(base.model, layout, base.train.batchSize, base.eval.size, parameterCount(base)).training;
  // Each share is of the ceiling measured just before and just after its own timing (the mean of the two): the host's
  // speed drifts between minutes, and one ceiling measured at the start put a slow stretch on one side of the share
  // only (10.2 GFLOP/s in one bench, where the others read 11.4-13.6).
  const ceilingBuilt = simdCeilingGflops() !== null; // dist/ceiling.wasm, which an older build may lack
  const loneRuns: { stepsPerS: number; ceiling: number }[] = [];
  if (ceilingBuilt)
    out.lone_run_share_of_simd_ceiling = await thrice(
      line,
      'a lone run (configs/lookup.yaml), % of the f64x2 ceiling measured around it',
      40,
      '%',
      async () => {
        const { value: stepsPerS, ceiling } = await aroundCeiling(() => trainStepsPerS(base, 1, 2000));
        loneRuns.push({ stepsPerS, ceiling });
        return (100 * stepsPerS * flops) / 1e9 / ceiling;
      },
    );
  const chain = simdCeilingGflops(true);
  if (chain !== null && loneRuns.length === 3) {
    const share = (r: { stepsPerS: number; ceiling: number }) => r.stepsPerS / r.ceiling;
    const middle = [...loneRuns].sort((a, b) => share(a) - share(b))[1];
    out.lone_run_ceilings = loneRuns.map((r) => r.ceiling);
    out.simd_one_chain_gflops = chain;
    line(
      `    (the ceilings measured around the three: ${loneRuns.map((r) => r.ceiling.toFixed(1)).join(' / ')} GFLOP/s; one dependent chain per lane, ` +
        `the order each of the kernel's sums keeps: ${chain.toFixed(1)} GFLOP/s; the median lone run reaches ` +
        `${((100 * middle.stepsPerS * flops) / 1e9 / chain).toFixed(0)}% of that)`,
    );
    // Where a lone step's time goes: the distance to the ceiling is not all the kernel's.
    const stepUs = 1e6 / middle.stepsPerS;
    const { value: parts, ceiling } = await aroundCeiling(async () => loneParts(base));
    const { passUs, drawUs } = parts;
    const passFlops = flops - ADAM_FLOPS_PER_PARAMETER * parameterCount(base);
    const passShare = (100 * passFlops * 1e6) / (passUs * ceiling * 1e9);
    out.lone_step_us = { step: stepUs, pass: passUs, draw: drawUs, ceiling };
    line(
      `    (a lone step, ${stepUs.toFixed(0)} µs: its pass alone ${passUs.toFixed(0)} µs, ${passShare.toFixed(0)}% of the ceiling measured around it ` +
        `(${ceiling.toFixed(1)} GFLOP/s); drawing its batch ${drawUs.toFixed(0)} µs; the rest ${(stepUs - passUs - drawUs).toFixed(0)} µs ` +
        `(Adam, copying in and out, garbage collection; below 0 when the host was faster while the parts were timed); each part the fastest of 3)`,
    );
  }
  const mqar = resolveConfig(loadConfigFile(join(ROOT, 'configs', 'mqar.yaml')));
  out.mqar_over_tfjs = await thrice(line, 'two-layer MQAR (configs/mqar.yaml, R = 10), kernel ÷ tfjs graph per run-step', 4, '×', async () => {
    return (await trainStepsPerS(mqar, 10, 300)) / (await trainStepsPerS(mqar, 10, 100, 'tfjs'));
  });
  const mqarFlops = deepStepFlops(mqar.model, makeTask(mqar.task).layout, mqar.train.batchSize, mqar.eval.size, parameterCount(mqar));
  const mqarGflops: { gflops: number; ceiling: number }[] = [];
  const float32Ratios: number[] = [];
  out.mqar_over_pytorch = await thrice(
    line,
    'two-layer MQAR with logging, kernel (R = 10, per core) ÷ PyTorch MQAR peer (1 thread)',
    5,
    '×',
    async () => {
      const steps = 600;
      const { value: logged, ceiling } = await aroundCeiling(() => timeGroup(mqar, 10, steps, mqar.train.logEvery));
      mqarGflops.push({ gflops: (10 * (steps * mqarFlops.training + logged.evals * mqarFlops.evaluation)) / logged.seconds / 1e9, ceiling });
      // The same in float32 lanes (train.precision float32, four runs a vector), against the same peer timing.
      const float32 = await timeGroup(mqar, 10, steps, mqar.train.logEvery, 'auto', 'float32');
      const peer = torchPeer('torch_mqar.py', ['--steps', String(steps)]);
      if (typeof peer === 'string') throw new Error(`the PyTorch peer did not run: ${peer}`);
      float32Ratios.push((10 * steps) / float32.seconds / peer.steps_per_s);
      return (10 * steps) / logged.seconds / peer.steps_per_s;
    },
  );
  const float32Median = medianOf(float32Ratios);
  out.mqar_float32_over_pytorch = { values: float32Ratios, median: float32Median };
  line(
    `    (in float32 lanes, train.precision float32, an option that is not the default: ${float32Ratios.map((v) => v.toFixed(2)).join(' / ')} → ` +
      `median ${float32Median.toFixed(2)}×)`,
  );
  if (ceilingBuilt) {
    // The distance to the hardware: the share of the f64x2 ceiling the kernel's MQAR arithmetic reached, and the share
    // the goal would take at the same arithmetic and the same peer.
    const { median, goal } = out.mqar_over_pytorch as { median: number; goal: number };
    const gflops = medianOf(mqarGflops.map((m) => m.gflops));
    const share = medianOf(mqarGflops.map((m) => m.gflops / m.ceiling));
    out.mqar_gflops = gflops;
    out.mqar_share_of_simd_ceiling = share;
    line(
      `    (its arithmetic, ${(mqarFlops.training / 1e6).toFixed(1)} MFLOP a training step: ${gflops.toFixed(2)} GFLOP/s median, ` +
        `${(100 * share).toFixed(0)}% of the f64x2 ceiling measured around each (median); ${goal}× the peer would take ` +
        `${((100 * share * goal) / median).toFixed(0)}%)`,
    );
  }
  const qkNorm = resolveConfig({ ...base, model: { ...base.model, dModel: 32, qkNorm: true } });
  out.qknorm_d32_over_tfjs = await thrice(line, 'QK-norm at d_model 32 (lookup, R = 10), kernel ÷ tfjs graph per run-step', 8, '×', async () => {
    return (await trainStepsPerS(qkNorm, 10, 300)) / (await trainStepsPerS(qkNorm, 10, 60, 'tfjs'));
  });
  results.goals = out;
  writeFileSync(join(ROOT, 'bench-goals.json'), JSON.stringify(results, null, 2) + '\n');
  line('wrote bench-goals.json');
}

/** 6 and 7: the default ablation's wall time and the PyTorch peer's, and their ratio; writes bench.json. */
async function ratio(
  results: Record<string, unknown>,
  line: (s: string) => void,
  base: Config,
  skipAblation: boolean,
  write: boolean,
): Promise<void> {
  const workers = availableParallelism();
  const runCount = loadSweep(join(ROOT, 'configs', 'ablation.yaml'), []).runs.length; // the default ablation's runs
  // 6. The full default ablation, with the default workers.
  if (!skipAblation) {
    const out = mkdtempSync(join(tmpdir(), 'qkv-bench-'));
    const run = await runTimed(['ablation', 'configs/ablation.yaml', '--out', out]);
    const verdict = JSON.parse(readFileSync(join(out, 'verdict.json'), 'utf8'));
    // The report alone (tables, charts, HTML, exports): compare over the same runs again.
    const report = await runTimed(['compare', join(out, 'runs'), '--out', join(out, 'again')]);
    rmSync(out, { recursive: true, force: true });
    results.default_ablation = {
      wall_s: run.seconds,
      peak_rss_mb: run.peakRssMb,
      workers,
      exit_code: run.code,
      verdict: verdict.verdict,
      ratio: verdict.ratio,
      p: verdict.p,
      report_s: report.seconds,
    };
    line(
      `default ablation (${runCount} runs × ${base.train.steps} steps, ${workers} workers): ${run.seconds.toFixed(1)} s wall, peak RSS ` +
        `${run.peakRssMb.toFixed(0)} MB (whole process tree); verdict: ${verdict.verdict}`,
    );
    line(`  of which the report (compare over the ${runCount} runs, charts and HTML included): ${report.seconds.toFixed(1)} s`);
  }

  // 7. The PyTorch peer: the same model, task and logging as a textbook per-run PyTorch loop.
  const peer = torchPeer();
  if (typeof peer === 'string') {
    results.pytorch = { available: false, reason: peer };
    line(`PyTorch peer: not run (${peer}); install it with: apt-get install python3-torch`);
  } else {
    const runSteps = runCount * base.train.steps;
    const sweepS = runSteps / (peer.steps_per_s * workers);
    const ablation = results.default_ablation as { wall_s: number } | undefined;
    const ratio = ablation ? sweepS / ablation.wall_s : null;
    results.pytorch = { available: true, ...peer, processes: workers, estimated_sweep_s: sweepS, ratio_pytorch_over_qkvlab: ratio };
    line(
      `PyTorch ${peer.torch} peer (textbook Q, K, V; 1 thread; eval every ${base.train.logEvery}): ` +
        `${peer.steps_per_s.toFixed(0)} steps/s per run → the ${runCount}-run sweep on ${workers} processes ≈ ${sweepS.toFixed(1)} s`,
    );
    if (ratio !== null) line(`ratio, PyTorch sweep ÷ qkv-lab ablation: ${ratio.toFixed(2)}×`);
  }
  if (!write) return; // a --ratio-only repeat prints; bench.json keeps the full run's figures
  writeFileSync(join(ROOT, 'bench.json'), JSON.stringify(results, null, 2) + '\n');
  line('wrote bench.json');
}

/** Steps/s of a PyTorch peer script (src/peer/), the mean over both variants; a reason when torch is missing. */
function torchPeer(
  script = 'torch_lookup.py',
  args = ['--steps', '1000'],
): { steps_per_s: number; torch: string; per_variant: Record<string, number> } | string {
  const path = join(ROOT, 'src', 'peer', script);
  // Debian's python3-torch serves /usr/bin/python3; a python3 earlier on PATH (pyenv, venv) may not see it.
  const python = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  if (!python) return 'python3 cannot import torch';
  const perVariant: Record<string, number> = {};
  let version = '';
  for (const attention of ['qkv', 'qv']) {
    const run = spawnSync(python, [path, ...args, '--attention', attention], { encoding: 'utf8' });
    if (run.status !== 0) return `the peer failed: ${(run.stderr || '').trim().split('\n').pop()}`;
    const out = JSON.parse(run.stdout.trim()) as { steps_per_s: number; torch: string };
    perVariant[attention] = out.steps_per_s;
    version = out.torch;
  }
  const mean = (perVariant.qkv + perVariant.qv) / 2;
  return { steps_per_s: mean, torch: version, per_variant: perVariant };
}

/**
 * GFLOP/s of a tight float64 multiply-add loop (a dot product over a cache-resident array, four accumulators so
 * the adds do not wait on each other): what one core does in plain JavaScript, the kernel's own language.
 */
function scalarCeilingGflops(): number {
  const [a, b] = CEILING_OPERANDS;
  const n = a.length;
  // One pass per call, as V8 optimises it best (the same loop inside an outer loop measured half the GFLOP/s).
  const pass = () => {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < n; i += 4) {
      s0 += a[i] * b[i];
      s1 += a[i + 1] * b[i + 1];
      s2 += a[i + 2] * b[i + 2];
      s3 += a[i + 3] * b[i + 3];
    }
    return s0 + s1 + s2 + s3;
  };
  return ceilingGflops(
    (reps) => {
      let sink = 0;
      for (let r = 0; r < reps; r++) sink += pass();
      return sink;
    },
    2000,
    20000,
  );
}

/**
 * The same loop two lanes at a time in WebAssembly (assembly/ceiling.ts); null where dist/ceiling.wasm was not built.
 * `chain`: one accumulator, so each lane's sum is one chain of dependent adds (the scalar order), not four interleaved.
 */
function simdCeilingGflops(chain = false): number | null {
  const file = join(ROOT, 'dist', 'ceiling.wasm');
  if (!existsSync(file)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)));
  type Dot = (a: number, b: number, n: number, reps: number) => number;
  const { memory, heapBase, dotF64x2, dotF64x2Chain } = exports as unknown as {
    memory: WebAssembly.Memory;
    heapBase(): number;
    dotF64x2: Dot;
    dotF64x2Chain: Dot;
  };
  const dot = chain ? dotF64x2Chain : dotF64x2;
  if (typeof dot !== 'function') return null; // a ceiling.wasm from an older build
  const n = CEILING_OPERANDS[0].length;
  const a = (heapBase() + 15) & ~15;
  const b = a + n * 8;
  const needed = b + n * 8 - memory.buffer.byteLength;
  if (needed > 0) memory.grow(Math.ceil(needed / 65536));
  new Float64Array(memory.buffer, a, n).set(CEILING_OPERANDS[0]);
  new Float64Array(memory.buffer, b, n).set(CEILING_OPERANDS[1]);
  return ceilingGflops((reps) => dot(a, b, n, reps), 2000, chain ? 10000 : 40000);
}

/** The two cache-resident operands of both ceiling loops (4096 float64 each, 32 KB together). */
const CEILING_OPERANDS = [0, 1].map((side) => Float64Array.from({ length: 4096 }, (_, i) => (side ? 1 - i * 1e-6 : 1 + i * 1e-6)));

/**
 * GFLOP/s of `passes(reps)`, which runs the dot product over CEILING_OPERANDS `reps` times and returns the sums (so
 * nothing is elided): `warmup` passes first, to let V8 compile its optimised code, then `reps` timed, five times, and
 * the fastest kept. A ceiling is what the core can do: one timing of a few tens of ms once landed in a moment the shared
 * host took elsewhere (8.6 GFLOP/s beside 13.2 a minute on), and every share set against it read too high.
 */
function ceilingGflops(passes: (reps: number) => number, warmup: number, reps: number): number {
  let sink = passes(warmup);
  const seconds = fastestSeconds(5, () => {
    sink += passes(reps);
  });
  if (!Number.isFinite(sink)) throw new Error('ceiling loop overflowed');
  return (reps * CEILING_OPERANDS[0].length * 2) / seconds / 1e9;
}

/** The fastest of `timings` timings of `work`, in seconds: a shared host's slow moments only ever add time. */
function fastestSeconds(timings: number, work: () => void): number {
  let fastest = Infinity;
  for (let k = 0; k < timings; k++) {
    const started = performance.now();
    work();
    fastest = Math.min(fastest, (performance.now() - started) / 1000);
  }
  return fastest;
}

/** Shapes for --ab: both of the kernel's ways, one to three layers, QK-norm, several widths and tasks. */
const AB_SHAPES: [string, string[]][] = [
  ['lookup.yaml', []],
  ['lookup.yaml', ['model.attention=qv', 'model.heads=2']],
  ['lookup.yaml', ['model.dModel=32', 'model.heads=4']],
  ['lookup.yaml', ['task.kind=copy']],
  ['mqar.yaml', []],
  ['lookup.yaml', ['model.qkNorm=true', 'model.dModel=32', 'model.heads=4']],
  ['lookup.yaml', ['model.layers=3', 'model.dModel=64', 'model.attention=qx']],
];

/**
 * `npm run bench -- --ab other.wasm`: this build's kernel against another build of it (say, main's dist/model/kernel.wasm
 * copied aside), on the same passes of each shape in AB_SHAPES, the two alternating five times after a round that warms
 * both up; the fastest time of
 * each (the host's speed moves between minutes, and both builds see the same moves), and whether the two give the
 * same bits (a training pass's loss and gradients, an evaluation's attention and inputs).
 */
async function ab(line: (s: string) => void, other: string | undefined): Promise<void> {
  if (!other || !existsSync(other)) throw new Error(`--ab needs the path of another build of the kernel (a .wasm file), got ${other ?? 'nothing'}`);
  const R = 4;
  line(`this build (dist/model/kernel.wasm) against ${other}: µs per run-pass, the fastest of 5 alternations, R = ${R}, batch as configured`);
  for (const [file, sets] of AB_SHAPES) {
    const cfg = resolveConfig(loadConfigFile(join(ROOT, 'configs', file)), sets);
    const task = makeTask(cfg.task);
    const params = stackedValues(
      cfg.model,
      task.layout,
      Array.from({ length: R }, (_, r) => initialValues(cfg.model, task.layout, r)),
    );
    const grads = new Map([...params].map(([path, v]) => [path, new Float32Array(v.length)]));
    const batches = Array.from({ length: R }, (_, r) => task.draw(Stream.derive(r, 'bench/ab'), cfg.train.batchSize));
    const evalBatch = [task.draw(Stream.derive(R, 'bench/ab'), cfg.eval.size)];
    const best = [Infinity, Infinity];
    const bits = ['', ''];
    let reps = 0;
    try {
      for (let round = 0; round <= 5; round++) {
        for (const k of [0, 1]) {
          useKernelBuild(k === 0 ? undefined : other);
          const kernel = kernelPass(cfg.model, task.layout, R, 'float64').pass; // the engine's way, in the arithmetic of every committed result
          const hash = createHash('sha256');
          const bytes = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
          for (const g of grads.values()) g.fill(NaN); // a gradient the pass does not write cannot pass for the other build's
          const train = kernel.pass(params, batches, grads);
          hash.update(bytes(train.loss));
          for (const g of grads.values()) hash.update(bytes(g));
          const ev = kernel.pass(params, evalBatch, undefined, true, true);
          for (const layer of ev.layers ?? []) hash.update(bytes(layer.weights)).update(bytes(layer.logits));
          hash.update(bytes(ev.inputs!));
          bits[k] = hash.digest('hex');
          if (reps === 0) {
            const started = performance.now();
            kernel.pass(params, batches, grads);
            reps = Math.max(5, Math.round(300 / (performance.now() - started))); // about 0.3 s a timing
          }
          const started = performance.now();
          for (let i = 0; i < reps; i++) kernel.pass(params, batches, grads);
          if (round > 0) best[k] = Math.min(best[k], ((performance.now() - started) * 1000) / reps / R); // round 0 warms both up
        }
      }
    } finally {
      useKernelBuild();
    }
    const label = [file, ...sets].join(' ');
    line(
      `  ${label.padEnd(64)} ${best[0].toFixed(1).padStart(8)} vs ${best[1].toFixed(1).padStart(8)}  ratio ${(best[0] / best[1]).toFixed(3)}  ` +
        (bits[0] === bits[1] ? 'same bits' : 'DIFFERENT bits'),
    );
  }
}

/** Child mode: steps/s of one run on one backend, printed alone; nothing when the backend does not load. */
async function single(backend: BackendName): Promise<void> {
  try {
    await initBackend(backend);
  } catch {
    return;
  }
  const cfg = resolveConfig(loadConfigFile(join(ROOT, 'configs', 'lookup.yaml')));
  process.stdout.write(String(await trainStepsPerS(cfg, 1, backend === 'cpu' ? 60 : 300, 'tfjs')));
}

const at = process.argv.indexOf('--single');
(at >= 0 ? single(process.argv[at + 1] as BackendName) : main())
  .catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(SCRATCH_DATA, { recursive: true, force: true }));
