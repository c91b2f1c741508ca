/**
 * The checkpoint file format, byte for byte against the safetensors spec (https://huggingface.co/docs/safetensors):
 *   8 bytes: N, the header size, an unsigned little-endian 64-bit integer;
 *   N bytes: a UTF-8 JSON object starting with '{', mapping each tensor name to {dtype, shape, data_offsets: [begin, end]}
 *            with offsets relative to the start of the byte buffer after the header, plus an optional
 *            "__metadata__" string→string map; trailing spaces (0x20) are allowed as padding;
 *   the rest: the byte buffer, little-endian, fully covered by the tensors' ranges with no holes or overlaps.
 * Expected bytes are computed here independently, with a DataView, not with Float32Array's native order.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, decodeSafetensors, type NamedTensor } from '../../src/runs/safetensors.js';

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const A = { shape: [2], values: [1, -2] };
const B = { shape: [1, 1], values: [0.5] };

const named = (shape: number[], values: number[]): NamedTensor => ({ shape, data: Float32Array.from(values) });
/** 'b' inserted before 'a' on purpose: the file's order must not depend on insertion order. */
const tiny = () =>
  new Map<string, NamedTensor>([
    ['b', named(B.shape, B.values)],
    ['a', named(A.shape, A.values)],
  ]);

/** Little-endian float32 bytes of `values`, written one by one through a DataView. */
function f32le(values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

/** Splits a file by the spec: header size, header text, parsed header, data buffer. */
function parse(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  const size = Number(n);
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + size));
  const header = JSON.parse(text) as Record<string, unknown>;
  return { n, size, text, header, data: bytes.subarray(8 + size) };
}

describe('safetensors layout, byte for byte', () => {
  const bytes = encodeSafetensors(tiny(), { format: 'qkv-lab test', step: '7' });
  const { n, size, text, header, data } = parse(bytes);

  it('bytes 0..7 are the header size N as little-endian u64, and the file is 8 + N + data', () => {
    let manual = 0n;
    for (let i = 7; i >= 0; i--) manual = (manual << 8n) | BigInt(bytes[i]); // little-endian by hand
    expect(manual).toBe(n);
    expect(size).toBeGreaterThan(2);
    expect(bytes.length).toBe(8 + size + 4 * (A.values.length + B.values.length));
  });

  it('the header is UTF-8 JSON starting with "{", padded with spaces to a multiple of 8', () => {
    expect(bytes[8]).toBe(0x7b); // '{'
    expect(size % 8).toBe(0);
    const body = text.trimEnd();
    expect(text.slice(body.length)).toMatch(/^ *$/); // only spaces after the JSON
    expect(text.length - body.length).toBeLessThan(8); // no more padding than alignment needs
    expect(body.endsWith('}')).toBe(true);
    expect(JSON.parse(body)).toEqual(header);
  });

  it('names each tensor with dtype F32 and its shape, plus the __metadata__ string map', () => {
    expect(Object.keys(header).sort()).toEqual(['__metadata__', 'a', 'b']);
    expect(header.__metadata__).toEqual({ format: 'qkv-lab test', step: '7' });
    for (const v of Object.values(header.__metadata__ as Record<string, unknown>)) expect(typeof v).toBe('string');
    const a = header.a as HeaderEntry;
    const b = header.b as HeaderEntry;
    expect(a.dtype).toBe('F32');
    expect(b.dtype).toBe('F32');
    expect(a.shape).toEqual(A.shape);
    expect(b.shape).toEqual(B.shape);
    for (const e of [a, b]) {
      expect(Object.keys(e).sort()).toEqual(['data_offsets', 'dtype', 'shape']);
      expect(e.data_offsets).toHaveLength(2);
      for (const o of e.data_offsets) expect(Number.isInteger(o) && o >= 0).toBe(true);
    }
  });

  it('offsets start at 0, are contiguous, cover the whole buffer, and span 4 × element count', () => {
    const entries = Object.entries(header)
      .filter(([name]) => name !== '__metadata__')
      .map(([name, e]) => ({ name, ...(e as HeaderEntry) }))
      .sort((x, y) => x.data_offsets[0] - y.data_offsets[0]);
    expect(entries[0].data_offsets[0]).toBe(0);
    for (let i = 1; i < entries.length; i++) expect(entries[i].data_offsets[0]).toBe(entries[i - 1].data_offsets[1]);
    expect(entries.at(-1)!.data_offsets[1]).toBe(data.length);
    for (const e of entries) {
      const count = e.shape.reduce((p, d) => p * d, 1);
      expect(e.data_offsets[1] - e.data_offsets[0], e.name).toBe(4 * count);
    }
  });

  it('the data bytes equal the little-endian float32 bytes computed with a DataView', () => {
    const a = header.a as HeaderEntry;
    const b = header.b as HeaderEntry;
    expect(Array.from(data.subarray(a.data_offsets[0], a.data_offsets[1]))).toEqual(Array.from(f32le(A.values)));
    expect(Array.from(data.subarray(b.data_offsets[0], b.data_offsets[1]))).toEqual(Array.from(f32le(B.values)));
    // The whole buffer, as literal bytes: 1 = 3f800000, -2 = c0000000, 0.5 = 3f000000, each stored low byte first.
    expect(Array.from(data)).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f]);
  });

  it('tensor order in the file is deterministic: sorted by name, whatever the insertion order', () => {
    const reversed = encodeSafetensors(
      new Map<string, NamedTensor>([
        ['a', named(A.shape, A.values)],
        ['b', named(B.shape, B.values)],
      ]),
      { format: 'qkv-lab test', step: '7' }, // (metadata keys are written in the order given)
    );
    expect(Buffer.from(reversed).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(encodeSafetensors(tiny(), { format: 'qkv-lab test', step: '7' })).equals(Buffer.from(bytes))).toBe(true);
    const a = header.a as HeaderEntry;
    const b = header.b as HeaderEntry;
    expect(a.data_offsets[0]).toBeLessThan(b.data_offsets[0]);
    expect(text.indexOf('"a"')).toBeLessThan(text.indexOf('"b"'));
  });

  it('without metadata, the header has no __metadata__ key and is still padded to a multiple of 8', () => {
    const plain = parse(encodeSafetensors(tiny()));
    expect(Object.keys(plain.header).sort()).toEqual(['a', 'b']);
    expect(plain.size % 8).toBe(0);
  });
});

describe('safetensors round trip and rejection', () => {
  it('decode(encode(x)) gives back names, shapes, values and metadata', () => {
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors(tiny(), { step: '3' }));
    expect([...tensors.keys()].sort()).toEqual(['a', 'b']);
    expect(tensors.get('a')!.shape).toEqual(A.shape);
    expect(Array.from(tensors.get('a')!.data)).toEqual(A.values);
    expect(tensors.get('b')!.shape).toEqual(B.shape);
    expect(Array.from(tensors.get('b')!.data)).toEqual(B.values);
    expect(metadata).toEqual({ step: '3' });
  });

  it('round-trips every float32 bit pattern exactly: NaN, ±0, ±Infinity, subnormals, odd sizes, nested names', () => {
    const special = Float32Array.from([NaN, -0, 0, Infinity, -Infinity, 1e-45, -3.4028234663852886e38, Math.PI, 1 / 3]);
    const input = new Map<string, NamedTensor>([
      ['param/layer0/attn/w_q', { shape: [3, 3], data: special }],
      ['adam_m/x', named([3], [1, 2, 3])],
      ['scalar', named([], [42])],
    ]);
    const { tensors } = decodeSafetensors(encodeSafetensors(input));
    for (const [name, t] of input) {
      const back = tensors.get(name)!;
      expect(back.shape, name).toEqual(t.shape);
      expect(
        Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(
          Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        ),
        name,
      ).toBe(true);
    }
  });

  it('decodes a file held at an unaligned offset inside a larger buffer (as Node may hand back a pooled Buffer)', () => {
    const file = encodeSafetensors(tiny());
    const big = new Uint8Array(file.length + 5);
    big.set(file, 3);
    const { tensors } = decodeSafetensors(big.subarray(3, 3 + file.length));
    expect(Array.from(tensors.get('a')!.data)).toEqual(A.values);
    expect(Array.from(tensors.get('b')!.data)).toEqual(B.values);
  });

  it('encode refuses data whose length does not match the shape', () => {
    expect(() => encodeSafetensors(new Map([['x', named([2, 2], [1, 2, 3])]]))).toThrow(/x/);
  });

  it('decode rejects a truncated file', () => {
    const file = encodeSafetensors(tiny());
    expect(() => decodeSafetensors(file.subarray(0, file.length - 4))).toThrow(/safetensors/);
    expect(() => decodeSafetensors(file.subarray(0, file.length - 1))).toThrow(/safetensors/);
    expect(() => decodeSafetensors(file.subarray(0, 20))).toThrow();
    expect(() => decodeSafetensors(file.subarray(0, 5))).toThrow(/safetensors/);
    expect(() => decodeSafetensors(new Uint8Array(0))).toThrow(/safetensors/);
  });

  it('decode rejects a header size that runs past the end of the file', () => {
    const file = encodeSafetensors(tiny());
    for (const n of [BigInt(file.length), BigInt(file.length - 7), 2n ** 63n, 2n ** 64n - 1n]) {
      const bad = Uint8Array.from(file);
      new DataView(bad.buffer).setBigUint64(0, n, true);
      expect(() => decodeSafetensors(bad), `N = ${n}`).toThrow(/safetensors/);
    }
  });
});

/** Python, if present: the reference implementation, else (numpy only) an independent reader of the spec. */
function pythonHas(module: string): boolean {
  const r = spawnSync('python3', ['-c', `import ${module}`], { encoding: 'utf8' });
  return r.status === 0;
}
const HAS_SAFETENSORS = pythonHas('safetensors.numpy');
const HAS_NUMPY = pythonHas('numpy');

function readWithPython(script: string, path: string): Record<string, { shape: number[]; values: number[] }> {
  const r = spawnSync('python3', ['-c', script, path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('readable by Python', () => {
  const withFile = (fn: (path: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'qkv-safetensors-'));
    try {
      const path = join(dir, 't.safetensors');
      writeFileSync(path, encodeSafetensors(tiny(), { format: 'qkv-lab test' }));
      fn(path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  // The safetensors package is not installed on this machine and PyPI is unreachable here, so this usually skips;
  // it runs wherever `python3 -c "import safetensors"` works.
  it.skipIf(!HAS_SAFETENSORS)(
    `safetensors.numpy.load_file reads the same tensors${HAS_SAFETENSORS ? '' : ' (skipped: python3 has no safetensors package)'}`,
    () => {
      withFile((path) => {
        const got = readWithPython(
          'import sys, json\nfrom safetensors.numpy import load_file\nt = load_file(sys.argv[1])\n' +
            'print(json.dumps({k: {"shape": list(v.shape), "values": v.reshape(-1).astype(float).tolist(), "dtype": str(v.dtype)} for k, v in t.items()}))',
          path,
        );
        expect(got).toEqual({ a: { shape: A.shape, values: A.values, dtype: 'float32' }, b: { shape: B.shape, values: B.values, dtype: 'float32' } });
      });
    },
  );

  // Not the reference library, but a second reader written from the spec alone: struct for N, json, numpy '<f4'.
  it.skipIf(!HAS_NUMPY)(
    `an independent Python reader (struct + json + numpy '<f4') reads the same tensors${HAS_NUMPY ? '' : ' (skipped: no numpy)'}`,
    () => {
      withFile((path) => {
        const got = readWithPython(
          'import sys, json, struct\nimport numpy as np\nraw = open(sys.argv[1], "rb").read()\n' +
            '(n,) = struct.unpack("<Q", raw[:8])\nh = json.loads(raw[8:8 + n].decode("utf-8"))\nmeta = h.pop("__metadata__", None)\n' +
            'assert meta == {"format": "qkv-lab test"}, meta\nbuf = raw[8 + n:]\nout = {}\n' +
            'for k, e in h.items():\n  b, end = e["data_offsets"]\n  assert e["dtype"] == "F32"\n' +
            '  out[k] = {"shape": e["shape"], "values": np.frombuffer(buf[b:end], dtype="<f4").astype(float).tolist()}\n' +
            'print(json.dumps(out))',
          path,
        );
        expect(got).toEqual({ a: { shape: A.shape, values: A.values }, b: { shape: B.shape, values: B.values } });
      });
    },
  );
});
