/**
 * Two checkpoints, checked: the newest and the previous one are kept with their length and SHA-256, a damaged
 * newest one falls back to the previous, and a checkpoint.json of format 1 (one checkpoint, no checksum) still loads.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointStep, loadCheckpoint, saveCheckpoint, type Checkpoint } from '../../src/runs/checkpoint.js';
import { UserError } from '../../src/errors.js';

const shapeOf = () => [2, 3];
/** A state whose every value encodes the step, so a loaded checkpoint says which one it is. */
function at(step: number): Checkpoint {
  const values = () => Float32Array.from({ length: 6 }, (_, i) => step + i / 10);
  return {
    step,
    state: { params: new Map([['w', values()]]), m: new Map([['w', values()]]), v: new Map([['w', values()]]) },
    dataStream: [step, 1, 2, 3],
    divergedAt: null,
  };
}
function runDir(): string {
  return mkdtempSync(join(tmpdir(), 'qkv-ckpt-'));
}
const files = (dir: string) => readdirSync(join(dir, 'checkpoint')).sort();
const index = (dir: string) => JSON.parse(readFileSync(join(dir, 'checkpoint', 'checkpoint.json'), 'utf8'));

describe('saveCheckpoint', () => {
  it('keeps the newest and the previous checkpoint, each with its length and SHA-256', () => {
    const dir = runDir();
    for (const step of [10, 20, 30]) saveCheckpoint(dir, at(step), shapeOf);
    expect(files(dir)).toEqual(['checkpoint.json', 'step-00000020.safetensors', 'step-00000030.safetensors']);
    const meta = index(dir);
    expect([meta.format, meta.step, meta.previous.step]).toEqual([2, 30, 20]);
    expect(meta.bytes).toBe(readFileSync(join(dir, 'checkpoint', meta.file)).length);
    expect(meta.sha256).toMatch(/^[0-9a-f]{64}$/);
    rmSync(dir, { recursive: true });
  });

  it('does not keep a damaged checkpoint as the previous one', () => {
    const dir = runDir();
    saveCheckpoint(dir, at(10), shapeOf);
    saveCheckpoint(dir, at(20), shapeOf);
    truncateSync(join(dir, 'checkpoint', 'step-00000020.safetensors'), 10);
    saveCheckpoint(dir, at(30), shapeOf);
    expect(index(dir).previous.step).toBe(10); // 20 is damaged: 10 stays the fallback
    expect(files(dir)).toEqual(['checkpoint.json', 'step-00000010.safetensors', 'step-00000030.safetensors']);
    rmSync(dir, { recursive: true });
  });
});

describe('loadCheckpoint', () => {
  it('loads the newest when it is intact, and says nothing', () => {
    const dir = runDir();
    saveCheckpoint(dir, at(10), shapeOf);
    saveCheckpoint(dir, at(20), shapeOf);
    const c = loadCheckpoint(dir);
    expect([c.step, c.fallback, c.dataStream[0], c.state.params.get('w')![1]]).toEqual([20, null, 20, Math.fround(20.1)]);
    rmSync(dir, { recursive: true });
  });

  it('falls back to the previous checkpoint, with its own data stream, when the newest is damaged or fails the check', () => {
    const dir = runDir();
    saveCheckpoint(dir, at(10), shapeOf);
    saveCheckpoint(dir, at(20), shapeOf);
    const newest = join(dir, 'checkpoint', 'step-00000020.safetensors');
    const bytes = readFileSync(newest);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(newest, bytes);
    const c = loadCheckpoint(dir);
    expect([c.step, c.dataStream[0], c.state.params.get('w')![0]]).toEqual([10, 10, 10]);
    expect(c.fallback).toMatch(
      new RegExp(
        /checkpoint at step 20 is corrupt \(step-00000020\.safetensors does not match the SHA-256 in checkpoint\.json\); /.source +
          /falling back to the previous one, at step 10$/.source,
      ),
    );
    expect(checkpointStep(dir)).toBe(10); // a sweep groups this run by the step it will really resume from
    rmSync(dir, { recursive: true });

    const other = runDir();
    saveCheckpoint(other, at(10), shapeOf);
    saveCheckpoint(other, at(20), shapeOf);
    const c2 = loadCheckpoint(other, (ck) => {
      if (ck.step === 20) throw new Error('parameter w is missing');
    });
    expect(c2.step).toBe(10);
    expect(c2.fallback).toMatch(/at step 20 does not match config\.json \(parameter w is missing\); falling back/);
    rmSync(other, { recursive: true });
  });

  it('with both damaged, throws one UserError naming both', () => {
    const dir = runDir();
    saveCheckpoint(dir, at(10), shapeOf);
    saveCheckpoint(dir, at(20), shapeOf);
    rmSync(join(dir, 'checkpoint', 'step-00000010.safetensors'));
    writeFileSync(join(dir, 'checkpoint', 'step-00000020.safetensors'), '');
    expect(() => loadCheckpoint(dir)).toThrow(UserError);
    expect(() => loadCheckpoint(dir)).toThrow(
      new RegExp(
        /cannot resume: the checkpoint at step 20 is corrupt \(.*has 0 bytes.*\), /.source +
          /and the previous one, at step 10, is corrupt \(step-00000010\.safetensors is missing\)/.source,
      ),
    );
    expect(checkpointStep(dir)).toBeNull();
    rmSync(dir, { recursive: true });
  });

  it('still loads a format-1 checkpoint.json (one checkpoint, no checksum), and the next save keeps it as the previous', () => {
    const dir = runDir();
    saveCheckpoint(dir, at(10), shapeOf);
    const { format: _f, bytes: _b, sha256: _s, previous: _p, ...old } = index(dir);
    writeFileSync(join(dir, 'checkpoint', 'checkpoint.json'), JSON.stringify({ format: 1, ...old }));
    expect(loadCheckpoint(dir).step).toBe(10);
    saveCheckpoint(dir, at(20), shapeOf);
    expect(index(dir).previous).toMatchObject({ step: 10, file: 'step-00000010.safetensors', bytes: expect.any(Number), sha256: expect.any(String) });
    rmSync(dir, { recursive: true });
  });
});
