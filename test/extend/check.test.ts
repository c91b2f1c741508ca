import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { checkModule } from '../../src/extend/check.js';
import { refusal } from '../helpers/refusal.js';
import { REPO } from '../helpers/shared.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'modules');

describe('check', () => {
  it('passes the example variant: shapes, gradients, determinism, parameter count', async () => {
    const { lines } = await checkModule(join(REPO, 'examples', 'variants', 'tempered.ts'), 'auto');
    expect(lines[0]).toMatch(/^variant tempered \(.*tempered\.ts\): /);
    expect(lines.join('\n')).toMatch(/gradients: autodiff agrees with central differences \(step 0\.01\) at \d+ coordinates/);
    expect(lines.join('\n')).toMatch(/deterministic: 3 training steps from seed 0, twice, give bit-identical losses/);
    expect(lines.join('\n')).toMatch(/parameters: 385 per run .*, 1 of them the variant's own \(log_temp \[1, 1\] per layer\)/);
  });

  it('passes the example task', async () => {
    const { lines } = await checkModule(join(REPO, 'examples', 'tasks', 'induction.ts'), 'auto');
    expect(lines[0]).toMatch(/^task induction /);
    expect(lines.join('\n')).toMatch(/layout: 12 positions, .*causal attention/);
    expect(lines.join('\n')).toMatch(/the same seed draws the same 512 examples/);
  });

  it('fails a variant whose parameter autodiff cannot see, naming the parameter', async () => {
    expect(await refusal(checkModule(join(FIXTURES, 'wrong-gradient.ts'), 'auto'))).toMatch(
      /wrong-gradient\.ts: the gradient of layer\d\/attn\/gain\[0\] is 0\.00 by autodiff but -?[0-9.e-]+ by central differences/,
    );
  });

  it('fails a task that ignores its seed', async () => {
    expect(await refusal(checkModule(join(FIXTURES, 'random-task.ts'), 'auto'))).toMatch(/random-task\.ts: the same seed drew different examples/);
  });

  it('fails a variant whose keys have the wrong shape', async () => {
    expect(await refusal(checkModule(join(FIXTURES, 'wrong-shape.ts'), 'auto'))).toMatch(/keys\(\) returned shape/);
  });
});
