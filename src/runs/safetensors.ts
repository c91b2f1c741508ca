/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian
 * data. Written here because no maintained npm package writes it; the format is that small.
 * Python: `safetensors.numpy.load_file(path)` opens these files.
 */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export function encodeSafetensors(tensors: Map<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()].sort(); // a stable order gives byte-identical files for identical state
  for (const name of names) {
    const t = tensors.get(name)!;
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1))
      throw new Error(`safetensors: ${name} has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // the spec allows trailing spaces; 8-byte alignment keeps the data aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // x86 and ARM are little-endian, as the format is
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error('safetensors: file shorter than its header length');
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new Error('safetensors: header runs past the end of the file');
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >; // checked field by field below
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, NamedTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`safetensors: ${name} has dtype ${info.dtype}; only F32 is used here`);
    const [begin, end] = info.data_offsets;
    if (dataStart + end > bytes.length || end - begin !== 4 * info.shape.reduce((a: number, b: number) => a * b, 1))
      throw new Error(`safetensors: ${name} has a bad byte range`);
    const copy = bytes.slice(dataStart + begin, dataStart + end); // aligned copy
    tensors.set(name, { shape: info.shape, data: new Float32Array(copy.buffer, copy.byteOffset, (end - begin) / 4) });
  }
  return { tensors, metadata: (header.__metadata__ as unknown as Record<string, string> | undefined) ?? {} }; // __metadata__ maps strings to strings
}
