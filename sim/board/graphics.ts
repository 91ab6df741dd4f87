/**
 * Espruino's Graphics for the simulator: the array-buffer flavour, with the
 * subset of drawing calls the firmware uses, pixel for pixel and byte for
 * byte as Espruino 2v2x draws them (libs/graphics/graphics.c,
 * jswrap_graphics.c and lcd_arraybuffer.c in espruino/Espruino), checked
 * against the real interpreter by test/screens/crosscheck-espruino.ts.
 *
 * What it does not emulate (built-in fonts, rotation, images, zigzag or
 * vertical-byte layouts, r,g,b colours) throws, so that the simulator never
 * silently draws something the card would draw differently.
 *
 * Every string drawn is reported to hooks.onDrawString, one call per line,
 * at its top-left corner after alignment: the text runs of the screen API.
 */

export interface GraphicsHooks {
  /** A line of text drawn at (x, y), its top-left corner after alignment. */
  onDrawString?(g: ArrayBufferGraphics, text: string, x: number, y: number): void;
  /** g.clear() was called. */
  onClear?(g: ArrayBufferGraphics): void;
}

export interface ArrayBufferOptions {
  msb?: boolean;
  zigzag?: boolean;
  vertical_byte?: boolean;
  interleavex?: boolean;
  color_order?: string;
  buffer?: ArrayBuffer;
}

interface CustomFontState {
  bitmap: string;
  first: number;
  widths: string | number;
  height: number;
  scale: number;
}

/** Espruino's alignment is kept in 2 unsigned bits: -1 (left/top) is 3. */
const ALIGN_START = 3;

/** An int32 argument as Espruino converts it: truncated, NaN and undefined as 0. */
function int(v: unknown): number {
  const n = typeof v === "number" ? v : Number(v ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) | 0 : 0;
}

function unsupported(what: string): never {
  throw new Error(`Graphics: ${what} is not emulated by the simulator`);
}

export class ArrayBufferGraphics {
  /** The pixels, in Espruino's layout. */
  readonly buffer: ArrayBuffer;
  readonly #bytes: Uint8Array;
  readonly #width: number;
  readonly #height: number;
  readonly #bpp: number;
  readonly #msb: boolean;
  readonly #hooks: GraphicsHooks;
  #fg = 0;
  #bg = 0;
  #font: CustomFontState | undefined;
  #alignX = ALIGN_START;
  #alignY = ALIGN_START;
  #clip = { x1: 0, y1: 0, x2: 0, y2: 0 };

  /** Use createGraphicsClass(hooks).createArrayBuffer, as the firmware does. */
  protected constructor(width: number, height: number, bpp: number, options: ArrayBufferOptions | undefined, hooks: GraphicsHooks) {
    width = int(width);
    height = int(height);
    bpp = int(bpp);
    if (width <= 0 || height <= 0 || width > 32767 || height > 32767) throw new Error("Invalid Size");
    if (![1, 2, 4, 8, 16, 24, 32].includes(bpp)) throw new Error("Invalid BPP");
    const o = options ?? {};
    if (o.zigzag || o.vertical_byte || o.interleavex) unsupported("zigzag, vertical_byte and interleavex layout");
    if (o.color_order !== undefined && o.color_order !== "rgb") unsupported("color_order");
    if (o.buffer !== undefined) unsupported("the buffer option");
    this.#width = width;
    this.#height = height;
    this.#bpp = bpp;
    this.#msb = o.msb === undefined ? true : Boolean(o.msb); // Espruino's default since 2v25
    this.#hooks = hooks;
    this.buffer = new ArrayBuffer((width * height * bpp + 7) >> 3);
    this.#bytes = new Uint8Array(this.buffer);
    this.#resetState();
  }

  #resetState(): void {
    this.#fg = this.#bpp >= 32 ? 0xffffffff : 2 ** this.#bpp - 1;
    this.#bg = 0;
    this.#font = undefined; // Espruino falls back to its built-in 4x6 font
    this.#alignX = ALIGN_START;
    this.#alignY = ALIGN_START;
    this.#clip = { x1: 0, y1: 0, x2: this.#width - 1, y2: this.#height - 1 };
  }

  getWidth(): number {
    return this.#width;
  }

  getHeight(): number {
    return this.#height;
  }

  getBPP(): number {
    return this.#bpp;
  }

  reset(): this {
    this.#resetState();
    return this;
  }

  /** Fills the clip rectangle (the whole buffer unless setClipRect) with the background colour. */
  clear(reset?: boolean): this {
    if (reset) this.#resetState();
    this.#fillDevice(0, 0, this.#width - 1, this.#height - 1, this.#bg);
    this.#hooks.onClear?.(this);
    return this;
  }

  setColor(color: unknown, g?: unknown, b?: unknown): this {
    this.#fg = this.#toColor(color, g, b);
    return this;
  }

  setBgColor(color: unknown, g?: unknown, b?: unknown): this {
    this.#bg = this.#toColor(color, g, b);
    return this;
  }

  getColor(): number {
    return this.#fg;
  }

  getBgColor(): number {
    return this.#bg;
  }

  setClipRect(x1: number, y1: number, x2: number, y2: number): this {
    const cx = (v: number) => Math.min(Math.max(int(v), 0), this.#width - 1);
    const cy = (v: number) => Math.min(Math.max(int(v), 0), this.#height - 1);
    const [ax, bx, ay, by] = [cx(x1), cx(x2), cy(y1), cy(y2)];
    this.#clip = { x1: Math.min(ax, bx), y1: Math.min(ay, by), x2: Math.max(ax, bx), y2: Math.max(ay, by) };
    return this;
  }

  setPixel(x: number, y: number, color?: unknown): this {
    const col = color === undefined ? this.#fg : this.#toColor(color);
    this.#pixelDevice(int(x), int(y), col);
    return this;
  }

  getPixel(x: number, y: number): number {
    x = int(x);
    y = int(y);
    if (x < 0 || y < 0 || x >= this.#width || y >= this.#height) return 0;
    return this.#read(x, y);
  }

  fillRect(x1: number | RectArg, y1?: number, x2?: number, y2?: number): this {
    const r = rect(x1, y1, x2, y2);
    this.#fillDevice(r.x1, r.y1, r.x2, r.y2, this.#fg);
    return this;
  }

  clearRect(x1: number | RectArg, y1?: number, x2?: number, y2?: number): this {
    const r = rect(x1, y1, x2, y2);
    this.#fillDevice(r.x1, r.y1, r.x2, r.y2, this.#bg);
    return this;
  }

  drawRect(x1: number | RectArg, y1?: number, x2?: number, y2?: number): this {
    const r = rect(x1, y1, x2, y2);
    this.#fillDevice(r.x1, r.y1, r.x2, r.y1, this.#fg);
    this.#fillDevice(r.x2, r.y1, r.x2, r.y2, this.#fg);
    this.#fillDevice(r.x1, r.y2, r.x2, r.y2, this.#fg);
    this.#fillDevice(r.x1, r.y2, r.x1, r.y1, this.#fg);
    return this;
  }

  /** graphicsDrawLine: steps along the longer axis in 8.8 fixed point, rounding by +128. */
  drawLine(x1: number, y1: number, x2: number, y2: number): this {
    [x1, y1, x2, y2] = [int(x1), int(y1), int(x2), int(y2)];
    let xl = Math.abs(x2 - x1);
    let yl = Math.abs(y2 - y1);
    if (xl > yl) {
      if (x1 > x2) [x1, y1, x2, y2] = [x2, y2, x1, y1];
      let pos = (y1 << 8) + 128;
      const step = Math.trunc(((y2 - y1) << 8) / xl);
      for (let x = x1; x <= x2; x++, pos += step) this.#pixelDevice(x, pos >> 8, this.#fg);
    } else {
      if (y1 > y2) [x1, y1, x2, y2] = [x2, y2, x1, y1];
      else if (yl === 0) yl = 1;
      let pos = (x1 << 8) + 128;
      const step = Math.trunc(((x2 - x1) << 8) / yl);
      for (let y = y1; y <= y2; y++, pos += step) this.#pixelDevice(pos >> 8, y, this.#fg);
    }
    return this;
  }

  /**
   * setFontCustom(bitmap, firstChar, widths, height): bitmap is a string of
   * bytes (atob), widths a string of per-character widths or one number;
   * height's bits 8-15 are a scale factor, bits 16-23 the font's bpp.
   */
  setFontCustom(bitmap: unknown, firstChar: number, widths: unknown, height: number): this {
    if (typeof bitmap !== "string") throw new Error("Font bitmap must be a String");
    firstChar = int(firstChar);
    if (firstChar < 0 || firstChar > 255) throw new Error("First character out of range");
    if (typeof widths !== "string" && !(typeof widths === "number" && Number.isInteger(widths))) {
      throw new Error("Font width must be a String or an integer");
    }
    height = int(height);
    const bpp = Math.max(height >> 16, 1);
    if (bpp === 2 || bpp === 4) unsupported("an antialiased (2 or 4 bpp) font");
    if (bpp !== 1) throw new Error("Invalid BPP - 1,2,4 supported");
    this.#font = { bitmap, first: firstChar, widths, height: height & 255, scale: Math.max((height >> 8) & 255, 1) };
    return this;
  }

  /** x: -1 left, 0 centre, 1 right; y: -1 top, 0 centre, 1 bottom (0 if omitted, as in Espruino). */
  setFontAlign(x: number, y?: number, rotation?: number): this {
    if (int(rotation) !== 0) unsupported("rotated text");
    const clamp = (v: number) => Math.min(Math.max(int(v), -1), 1) & 3;
    this.#alignX = clamp(x);
    this.#alignY = clamp(y ?? 0);
    return this;
  }

  getFontHeight(): number {
    const f = this.#customFont();
    return f.height * f.scale;
  }

  /** The widest line of text, in pixels. */
  stringWidth(text: unknown): number {
    const lines = String(text).split("\n");
    return Math.max(...lines.map((l) => this.#lineWidth(l)));
  }

  drawString(text: unknown, x: number, y: number, solid?: boolean): this {
    const f = this.#customFont();
    const str = String(text);
    if (str.includes("\0")) unsupported("an image inside a string");
    const lines = str.split("\n");
    const fontHeight = f.height * f.scale;
    const startX = int(x);
    y = int(y);
    // C integer division of a non-negative product: floor.
    const alignedX = (line: string) =>
      this.#alignX < 2 ? startX - Math.floor((this.#lineWidth(line) * (this.#alignX + 1)) / 2) : startX;
    if (this.#alignY < 2) y -= Math.floor((fontHeight * lines.length * (this.#alignY + 1)) / 2);
    for (const line of lines) {
      x = alignedX(line);
      if (line !== "") this.#hooks.onDrawString?.(this, line, x, y);
      for (let i = 0; i < line.length; i++) x += this.#drawChar(f, line.charCodeAt(i), x, y, Boolean(solid));
      y += fontHeight;
    }
    return this;
  }

  /** Draws one character of a 1 bpp custom font at (x, y); returns its advance. */
  #drawChar(f: CustomFontState, ch: number, x: number, y: number, solid: boolean): number {
    if (ch >= 256) return 0;
    let width = 0;
    let offset = 0; // in glyph columns
    if (typeof f.widths === "string") {
      if (ch >= f.first) {
        const n = Math.min(ch - f.first, f.widths.length);
        for (let i = 0; i < n; i++) offset += f.widths.charCodeAt(i) & 255;
        width = n < f.widths.length ? f.widths.charCodeAt(n) & 255 : 0;
      }
    } else {
      width = f.widths;
      offset = width * (ch - f.first);
    }
    const s = f.scale;
    const c = this.#clip;
    // Espruino skips a character only partly on screen by these tests (x < x2, not <=).
    if (ch >= f.first && x > c.x1 - width * s && x < c.x2 && y > c.y1 - f.height * s && y <= c.y2) {
      let bit = offset * f.height;
      for (let cx = 0; cx < width; cx++) {
        for (let cy = 0; cy < f.height; cy++, bit++) {
          const byte = bit >> 3 < f.bitmap.length ? f.bitmap.charCodeAt(bit >> 3) & 255 : 0;
          const on = (byte << (bit & 7)) & 0x80;
          if (on || solid) {
            const px = x + cx * s;
            const py = y + cy * s;
            this.#fillDevice(px, py, px + s - 1, py + s - 1, on ? this.#fg : this.#bg);
          }
        }
      }
    }
    return width * s;
  }

  #lineWidth(line: string): number {
    const f = this.#customFont();
    let w = 0;
    for (let i = 0; i < line.length; i++) {
      const ch = line.charCodeAt(i);
      if (ch >= 256) continue;
      if (typeof f.widths === "number") w += f.widths * f.scale;
      // Past the end of the widths string Espruino reads -1 here, as 255 (drawString advances 0).
      else if (ch >= f.first) w += (ch - f.first < f.widths.length ? f.widths.charCodeAt(ch - f.first) & 255 : 255) * f.scale;
    }
    return w;
  }

  #customFont(): CustomFontState {
    return this.#font ?? unsupported("the built-in 4x6 font (call setFontCustom first)");
  }

  #mask(): number {
    return this.#bpp >= 32 ? 0xffffffff : 2 ** this.#bpp - 1;
  }

  /** jswrap_graphics_toColor for an integer colour: the value masked to the bpp. */
  #toColor(r: unknown, g?: unknown, b?: unknown): number {
    if (typeof r === "string" || g !== undefined || b !== undefined) unsupported("a colour other than an integer");
    return ((int(r) >>> 0) & this.#mask()) >>> 0;
  }

  /** graphicsFillRectDevice: order the corners, clip, fill. */
  #fillDevice(x1: number, y1: number, x2: number, y2: number, col: number): void {
    if (x1 > x2) [x1, x2] = [x2, x1];
    if (y1 > y2) [y1, y2] = [y2, y1];
    const c = this.#clip;
    x1 = Math.max(x1, c.x1);
    y1 = Math.max(y1, c.y1);
    x2 = Math.min(x2, c.x2);
    y2 = Math.min(y2, c.y2);
    for (let y = y1; y <= y2; y++) for (let x = x1; x <= x2; x++) this.#write(x, y, col);
  }

  /** graphicsSetPixelDevice: one pixel, dropped outside the clip rectangle. */
  #pixelDevice(x: number, y: number, col: number): void {
    const c = this.#clip;
    if (x < c.x1 || y < c.y1 || x > c.x2 || y > c.y2) return;
    this.#write(x, y, (col & this.#mask()) >>> 0);
  }

  /** lcd_arraybuffer.c: pixels row-major; below 8 bpp packed MSB-first (msb) or LSB-first. */
  #write(x: number, y: number, col: number): void {
    const bpp = this.#bpp;
    const idx = (x + y * this.#width) * bpp;
    const i = idx >> 3;
    if (bpp < 8) {
      const shift = this.#msb ? 8 - ((idx & 7) + bpp) : idx & 7;
      const mask = ((1 << bpp) - 1) << shift;
      this.#bytes[i] = (this.#bytes[i] & ~mask) | ((col << shift) & mask);
    } else {
      for (let k = 0; k < bpp >> 3; k++) {
        const byteShift = this.#msb ? bpp - 8 - 8 * k : 8 * k;
        this.#bytes[i + k] = (col >>> byteShift) & 255;
      }
    }
  }

  #read(x: number, y: number): number {
    const bpp = this.#bpp;
    const idx = (x + y * this.#width) * bpp;
    const i = idx >> 3;
    if (bpp < 8) {
      const shift = this.#msb ? 8 - ((idx & 7) + bpp) : idx & 7;
      return (this.#bytes[i] >> shift) & ((1 << bpp) - 1);
    }
    let col = 0;
    for (let k = 0; k < bpp >> 3; k++) {
      const byteShift = this.#msb ? bpp - 8 - 8 * k : 8 * k;
      col += this.#bytes[i + k] * 2 ** byteShift;
    }
    return col;
  }
}

/** fillRect and friends also take {x, y, x2, y2} or {x, y, w, h}. */
interface RectArg {
  x?: number;
  y?: number;
  x1?: number;
  y1?: number;
  x2?: number;
  y2?: number;
  w?: number;
  h?: number;
  r?: number;
}

function rect(a: number | RectArg, y1?: number, x2?: number, y2?: number) {
  if (typeof a !== "object" || a === null) return { x1: int(a), y1: int(y1), x2: int(x2), y2: int(y2) };
  if (int(a.r) > 0) unsupported("a rounded rectangle");
  const x = int(a.x ?? a.x1);
  const y = int(a.y ?? a.y1);
  return {
    x1: x,
    y1: y,
    x2: a.w !== undefined && int(a.w) >= 0 ? x + int(a.w) : int(a.x2),
    y2: a.h !== undefined && int(a.h) >= 0 ? y + int(a.h) : int(a.y2),
  };
}

/** The class to install as the `Graphics` global; every instance reports to hooks. */
export function createGraphicsClass(hooks: GraphicsHooks = {}) {
  return class Graphics extends ArrayBufferGraphics {
    static createArrayBuffer(width: number, height: number, bpp: number, options?: ArrayBufferOptions): Graphics {
      return new Graphics(width, height, bpp, options, hooks);
    }
  };
}

export type GraphicsClass = ReturnType<typeof createGraphicsClass>;
