// A GPU server's PNG output without its metadata, by copying chunks instead of decoding and re-encoding:
// ComfyUI writes 8-bit RGB(A) PNGs whose text chunks carry the prompt and the workflow. Only the chunks
// that make the pixels are kept (IHDR, PLTE, tRNS, IDAT, IEND), byte for byte with their CRCs, so the
// pixels are the ones the server encoded. Anything else — another format, another bit depth, a colour
// profile or gamma that a re-encode would apply, an animation, an unknown critical chunk, more pixels than
// allowed, a truncated file — returns undefined and goes through sharp's decode as before.
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const KEPT = new Set(['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND']);
/** Chunks whose meaning a plain copy would change or drop: the re-encode handles them. */
const NEEDS_DECODE = new Set([
  'iCCP',
  'sRGB',
  'gAMA',
  'cHRM',
  'cICP',
  'mDCV',
  'sBIT',
  'acTL',
  'fcTL',
  'fdAT',
]);

export interface StrippedPng {
  readonly bytes: Buffer;
  readonly width: number;
  readonly height: number;
}

export function stripPngChunks(input: Uint8Array, maxPixels: number): StrippedPng | undefined {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < 8 + 25 + 12 || !buf.subarray(0, 8).equals(SIGNATURE)) return undefined;
  const kept: Buffer[] = [SIGNATURE];
  let width = 0;
  let height = 0;
  let sawData = false;
  let pos = 8;
  while (pos + 12 <= buf.length) {
    const length = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const end = pos + 12 + length;
    if (length > 0x7fffffff || end > buf.length) return undefined;
    if (pos === 8) {
      if (type !== 'IHDR' || length !== 13) return undefined;
      width = buf.readUInt32BE(pos + 8);
      height = buf.readUInt32BE(pos + 12);
      const bitDepth = buf[pos + 16];
      const colourType = buf[pos + 17];
      if (width === 0 || height === 0 || width * height > maxPixels) return undefined;
      if (bitDepth !== 8 || (colourType !== 2 && colourType !== 6)) return undefined;
    }
    if (NEEDS_DECODE.has(type)) return undefined;
    // An unknown chunk a decoder must understand (upper-case first letter): leave it to the decoder.
    const critical = (type.charCodeAt(0) & 0x20) === 0;
    if (critical && !KEPT.has(type)) return undefined;
    if (KEPT.has(type)) kept.push(buf.subarray(pos, end));
    if (type === 'IDAT') sawData = true;
    pos = end;
    if (type === 'IEND') return sawData ? { bytes: Buffer.concat(kept), width, height } : undefined;
  }
  return undefined;
}
