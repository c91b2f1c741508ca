/** What trainGroup takes and returns: a group of R runs of one shape, and the hooks it reports through. */
import type { Precision } from '../model/kernel.js';
import type { Layout, Encoded } from '../tasks/types.js';
import type { ModelConfig } from '../model/schema.js';
import type { ClaimReadout } from '../metrics/claims.js';
import type { AttentionSnapshot, MetricsRow, RunState } from '../records/formats.js';
import type { KernelChoice } from './engine.js';
import type { BackendChoice } from '../backend-names.js';

export interface GroupSpec {
  model: ModelConfig;
  layout: Layout;
  steps: number;
  batchSize: number;
  warmup: number;
  logEvery: number;
  /** Base learning rate per run; R = lrs.length. */
  lrs: number[];
  /** Starting state per run: fresh parameters (see initialValues), or a checkpoint's parameters and moments. */
  initial: RunState[];
  /** The step the state belongs to: 0 for a fresh start, the checkpoint's step on resume. */
  startStep?: number;
  /** Runs already diverged at startStep (from a checkpoint). */
  divergedAt?: (number | null)[];
  /** Checkpoint every N steps (0 = only at the end); the hook receives every run's full state. */
  checkpointEvery?: number;
  onCheckpoint?(step: number, states: RunState[], divergedAt: (number | null)[]): Promise<void>;
  /** Polled at every step boundary; when true, the trainer checkpoints and returns early. */
  stopRequested?(): boolean;
  /** One training batch per run for the next step. */
  nextBatches(): Encoded[];
  evalSet: Encoded;
  /** How many eval examples an attention snapshot keeps. */
  snapshotExamples: number;
  onRows(rows: (MetricsRow | null)[]): Promise<void>;
  onSnapshot(snapshots: AttentionSnapshot[]): Promise<void>;
  /** Which engine computes the steps (default auto: fused where it applies). */
  kernel?: KernelChoice;
  /** The kernel's arithmetic (default float64). */
  precision?: Precision;
  /** The tfjs backend to load if the graph computes the steps (default auto). */
  backend?: BackendChoice;
  /** At every logged step, per run: the claims' attention trace, and at the last step the value-norm figures. */
  onClaims?(step: number, readouts: ClaimReadout[]): Promise<void>;
  /** Once, when the engine is made: what will compute the steps, so a group that fails partway still records it. */
  onEngine?(used: EngineUsed): void;
}

/** What computed a group's steps (GroupResult's first four fields). */
export type EngineUsed = Pick<GroupResult, 'kernel' | 'implementation' | 'precision' | 'backend'>;

export interface GroupResult {
  /** The engine that computed the steps. */
  kernel: 'fused' | 'tfjs';
  /** What computed it, in words (Engine.implementation), recorded in summary.json as kernel_impl. */
  implementation: string;
  /** The arithmetic the steps ran in, recorded in summary.json. */
  precision: Precision;
  /** The tfjs backend the steps ran on, recorded in summary.json: 'none' for the kernel, which does not load TensorFlow.js. */
  backend: string;
  divergedAt: (number | null)[];
  /** The step the group stopped at when stopRequested() said so; null when it ran to the end. */
  stoppedAt: number | null;
}
