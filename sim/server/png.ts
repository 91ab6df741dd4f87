/**
 * The panel's displayed pixels as a PNG: 8-bit greyscale, 0 = black ink,
 * 255 = white paper. Greyscale without gamma or colour chunks, so a browser
 * decodes exactly these values and the page's canvas can be compared with
 * the panel model pixel for pixel.
 */
import { PNG } from "pngjs";

export function encodePng(width: number, height: number, isWhite: (x: number, y: number) => boolean): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`bad image size ${width}x${height}`);
  }
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data[y * width + x] = isWhite(x, y) ? 255 : 0;
  }
  png.data = data;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}
