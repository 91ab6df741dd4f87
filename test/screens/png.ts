/**
 * 1 bpp frames (the panel's layout: rows, MSB = leftmost, 1 = white) to and
 * from 8-bit greyscale PNG, for the reference images in ref/.
 */
import { PNG } from "pngjs";

export function frameToPng(frame: Uint8Array, width: number, height: number): Buffer {
  if (frame.length !== (width * height + 7) >> 3) throw new Error(`frame has ${frame.length} bytes, not ${(width * height + 7) >> 3}`);
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    const v = (frame[i >> 3] >> (7 - (i & 7))) & 1 ? 255 : 0;
    png.data.set([v, v, v, 255], i * 4);
  }
  return PNG.sync.write(png, { colorType: 0 });
}

/** Decodes a PNG to a 1 bpp frame: a pixel is white (1) when its red channel is 128 or more. */
export function pngToFrame(data: Buffer): { frame: Uint8Array; width: number; height: number } {
  const png = PNG.sync.read(data);
  const { width, height } = png;
  const frame = new Uint8Array((width * height + 7) >> 3);
  for (let i = 0; i < width * height; i++) if (png.data[i * 4] >= 128) frame[i >> 3] |= 0x80 >> (i & 7);
  return { frame, width, height };
}
