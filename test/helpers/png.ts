import { inflateSync } from 'node:zlib';

/**
 * What a PNG screenshot shows, roughly: its size, how many distinct colours,
 * and the share of pixels not of its most common colour (the background). Decodes 8-bit RGB/RGBA,
 * non-interlaced PNGs (what Chromium writes); anything else throws.
 */
export function pngStats(png: Buffer): { width: number; height: number; colours: number; nonBackground: number } {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) throw new Error(`unsupported PNG (depth ${depth}, colour type ${colour}, interlace ${interlace})`);
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const cur = Buffer.alloc(stride);
  const prev = Buffer.alloc(stride);
  const colours = new Map<number, number>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      const x = line[i]!;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
      if (predictor === undefined) throw new Error(`bad PNG filter ${filter}`);
      cur[i] = (x + predictor) & 0xff;
    }
    for (let i = 0; i < stride; i += channels) {
      const rgb = (cur[i]! << 16) | (cur[i + 1]! << 8) | cur[i + 2]!;
      colours.set(rgb, (colours.get(rgb) ?? 0) + 1);
    }
    cur.copy(prev);
  }
  return { width, height, colours: colours.size, nonBackground: 1 - Math.max(...colours.values()) / (width * height) };
}
