/**
 * Drawing cases run both on the real Espruino interpreter and on the
 * emulation (sim/board/graphics.ts), whose buffers must be byte-equal.
 * Plain ES5-compatible TypeScript: crosscheck.ts bundles this file for
 * Espruino, and graphics.test.ts runs it in Node against the buffers Espruino
 * gave (ref/espruino.json).
 */
import { digitsFont, smallFont, type CustomFont } from "../../../firmware/core/font.ts";
import { drawBlankScreen, drawCodeScreen, drawNotIssuedScreen } from "../../../firmware/core/screens.ts";

/** The Graphics calls the cases make, on the interpreter or the emulation. */
export interface G {
  buffer: ArrayBuffer;
  getWidth(): number;
  getHeight(): number;
  clear(reset?: boolean): unknown;
  setColor(c: number): unknown;
  setBgColor(c: number): unknown;
  setPixel(x: number, y: number, c?: number): unknown;
  fillRect(x1: number, y1: number, x2: number, y2: number): unknown;
  drawRect(x1: number, y1: number, x2: number, y2: number): unknown;
  drawLine(x1: number, y1: number, x2: number, y2: number): unknown;
  setClipRect(x1: number, y1: number, x2: number, y2: number): unknown;
  setFontCustom(bitmap: string, first: number, widths: string | number, height: number): unknown;
  setFontAlign(x: number, y?: number): unknown;
  drawString(text: string, x: number, y: number, solid?: boolean): unknown;
  stringWidth(text: string): number;
  getFontHeight(): number;
}
export interface GraphicsFactory {
  createArrayBuffer(w: number, h: number, bpp: number, options?: { msb?: boolean }): G;
}
export interface CaseResult {
  g: G;
  /** Numbers the case measured (stringWidth and the like). */
  values: number[];
}
export interface Case {
  name: string;
  run(Graphics: GraphicsFactory, decode: (b64: string) => string): CaseResult;
}

function font(g: G, decode: (b64: string) => string, f: CustomFont, scale: number): void {
  g.setFontCustom(decode(f.bitmap), f.first, decode(f.widths), f.height | (scale << 8));
}

/** A 1 bpp paper-white 200x200 surface, as the card draws. */
function panel(Graphics: GraphicsFactory): G {
  return Graphics.createArrayBuffer(200, 200, 1, { msb: true });
}

function screen(name: string, draw: (g: G, decode: (b64: string) => string) => void): Case {
  return {
    name: name,
    run: function (Graphics, decode) {
      const g = panel(Graphics);
      draw(g, decode);
      return { g: g, values: [] };
    },
  };
}

export const CASES: Case[] = [
  {
    name: "pixels: 1 bpp, msb and lsb, default layout, out of bounds dropped",
    run: function (Graphics) {
      const a = Graphics.createArrayBuffer(13, 5, 1, { msb: true });
      const b = Graphics.createArrayBuffer(13, 5, 1, { msb: false });
      const c = Graphics.createArrayBuffer(13, 5, 1);
      const gs = [a, b, c];
      for (let i = 0; i < gs.length; i++) {
        const g = gs[i];
        g.setPixel(0, 0);
        g.setPixel(12, 4);
        g.setPixel(5, 2, 1);
        g.setPixel(7, 1, 3); // masked to 1
        g.setPixel(-1, 0);
        g.setPixel(13, 0);
        g.setPixel(3, 5);
      }
      // one buffer out: a's bytes then b's then c's, as a 39 x 5 picture
      const all = Graphics.createArrayBuffer(8, 3 * a.buffer.byteLength, 1);
      const out = new Uint8Array(all.buffer);
      const parts = [a, b, c];
      let o = 0;
      for (let i = 0; i < parts.length; i++) {
        const u = new Uint8Array(parts[i].buffer);
        for (let j = 0; j < u.length; j++) out[o++] = u[j];
      }
      return { g: all, values: [a.buffer.byteLength] };
    },
  },
  {
    name: "pixels: 2, 4 and 8 bpp colours, msb and lsb",
    run: function (Graphics) {
      const bpps = [2, 4, 8];
      const out = Graphics.createArrayBuffer(8, 6 * 16, 1); // room for all six buffers
      const bytes = new Uint8Array(out.buffer);
      const values: number[] = [];
      let o = 0;
      for (let k = 0; k < 6; k++) {
        const g = Graphics.createArrayBuffer(7, 3, bpps[k % 3], { msb: k < 3 });
        g.setBgColor(1);
        g.clear();
        g.setColor(2);
        g.fillRect(1, 0, 3, 1);
        g.setPixel(6, 2, 255);
        g.setPixel(0, 2);
        const u = new Uint8Array(g.buffer);
        for (let j = 0; j < u.length; j++) bytes[o++] = u[j];
        values.push(u.length);
      }
      return { g: out, values: values };
    },
  },
  {
    name: "rectangles: swapped corners, clipped at the edges, outlines, clear to background",
    run: function (Graphics) {
      const g = Graphics.createArrayBuffer(37, 23, 1, { msb: true });
      g.setBgColor(1);
      g.clear();
      g.setColor(0);
      g.fillRect(30, 20, 25, 15);
      g.fillRect(-5, -5, 3, 2);
      g.fillRect(34, 19, 60, 60);
      g.drawRect(5, 5, 20, 12);
      g.drawRect(22, 3, 22, 3);
      g.drawRect(-3, 14, 8, 30);
      g.setColor(1);
      g.fillRect(7, 7, 9, 9);
      return { g: g, values: [] };
    },
  },
  {
    name: "lines: shallow, steep, reversed, single points, off the edges",
    run: function (Graphics) {
      const g = Graphics.createArrayBuffer(41, 29, 1, { msb: true });
      g.drawLine(0, 0, 40, 28);
      g.drawLine(40, 0, 0, 9);
      g.drawLine(3, 28, 7, 0);
      g.drawLine(20, 5, 20, 5);
      g.drawLine(-10, 14, 50, 17);
      g.drawLine(35, -5, 30, 40);
      g.drawLine(12, 20, 29, 20);
      g.drawLine(25, 27, 25, 10);
      g.drawLine(1, 2, 4, 3);
      return { g: g, values: [] };
    },
  },
  {
    name: "clip rectangle: fills, lines and clear stay inside it; corners swapped and clamped",
    run: function (Graphics) {
      const g = Graphics.createArrayBuffer(30, 20, 1, { msb: true });
      g.setClipRect(25, 15, 4, 3);
      g.setBgColor(1);
      g.clear();
      g.setColor(0);
      g.fillRect(0, 0, 10, 10);
      g.drawLine(0, 19, 29, 0);
      g.setClipRect(-4, 17, 100, 100);
      g.fillRect(0, 0, 29, 19);
      return { g: g, values: [] };
    },
  },
  {
    name: "text: small font at scales 1-3, each alignment, multi-line, widths and heights",
    run: function (Graphics, decode) {
      const g = panel(Graphics);
      g.setBgColor(1);
      g.clear();
      g.setColor(0);
      const values: number[] = [];
      for (let scale = 1; scale <= 3; scale++) {
        font(g, decode, smallFont(), scale);
        values.push(g.stringWidth("Ag|"), g.stringWidth("ab\nlonger line"), g.getFontHeight());
      }
      font(g, decode, smallFont(), 1);
      g.setFontAlign(-1, -1);
      g.drawString(" !\"#$%&'()*+,-./0123456789:;<=>?", 2, 2);
      g.drawString("@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_", 2, 12);
      g.drawString("`abcdefghijklmnopqrstuvwxyz{|}~", 2, 22);
      g.setFontAlign(0, 0);
      g.drawString("odd", 100, 50); // width 17: floor(17 / 2)
      g.drawString("even!", 100, 60);
      g.setFontAlign(1, 1);
      g.drawString("right\nbottom", 198, 90);
      font(g, decode, smallFont(), 2);
      g.setFontAlign(0, -1);
      g.drawString("Scale 2\nof two", 100, 95);
      font(g, decode, smallFont(), 3);
      g.setFontAlign(-1, 1);
      g.drawString("x3 gy", 3, 197);
      g.setFontAlign(1); // y omitted: Espruino takes 0, centre
      g.drawString("mid", 196, 160);
      return { g: g, values: values };
    },
  },
  {
    name: "text: solid background, clipping at every edge, characters outside the font",
    run: function (Graphics, decode) {
      const g = Graphics.createArrayBuffer(64, 40, 1, { msb: true });
      g.setBgColor(0);
      g.clear();
      g.setColor(1);
      font(g, decode, smallFont(), 1);
      g.drawString("SOLID", 2, 2, true);
      g.setBgColor(1);
      g.setColor(0);
      g.drawString("Wrap", 56, 12, true); // runs off the right edge
      g.drawString("Left", -9, 12);
      g.drawString("Top", 20, -4);
      g.drawString("Bot", 20, 36);
      g.drawString("Last", 63, 20); // starts on the last column: Espruino skips it (x < maxX)
      g.drawString("a\u0001b\u00ffc", 2, 28); // below the first char, beyond the last
      g.setClipRect(10, 24, 40, 31);
      g.drawString("clipped text", 5, 22, true);
      return { g: g, values: [g.stringWidth("a\u0001b\u00ffc")] };
    },
  },
  {
    name: "text: fixed-width font (widths as a number), characters before firstChar advance",
    run: function (Graphics, decode) {
      const g = Graphics.createArrayBuffer(80, 16, 1, { msb: true });
      // "A".."C", 4 columns x 5 rows each: arbitrary bits, and too few of them for "D".
      const bits = decode("+cY5x5wAAA/8");
      g.setFontCustom(bits, 65, 4, 5);
      g.drawString("ABC", 0, 0);
      g.drawString("A B-CD", 1, 8);
      return { g: g, values: [g.stringWidth("A B-CD"), g.stringWidth("")] };
    },
  },
  {
    name: "digits font at scales 1-3",
    run: function (Graphics, decode) {
      const g = panel(Graphics);
      font(g, decode, digitsFont(), 1);
      g.drawString("0123456789", 0, 0);
      font(g, decode, digitsFont(), 2);
      g.drawString("01234", 0, 30);
      g.drawString("56789", 60, 80);
      font(g, decode, digitsFont(), 3);
      g.setFontAlign(0, -1);
      g.drawString("9876", 100, 128);
      return { g: g, values: [g.stringWidth("0123456789")] };
    },
  },
  screen("screen: blank", function (g) {
    drawBlankScreen(g);
  }),
  screen("screen: not issued", function (g, decode) {
    drawNotIssuedScreen(g, decode);
  }),
  screen("screen: code, 3 digits", function (g, decode) {
    drawCodeScreen(g, decode, "507", "SECURITY CODE");
  }),
  screen("screen: code, 4 digits", function (g, decode) {
    drawCodeScreen(g, decode, "8814", "CVV2");
  }),
  screen("screen: code, 6 digits", function (g, decode) {
    drawCodeScreen(g, decode, "314159", "SECURITY CODE");
  }),
  screen("screen: code, 8 digits", function (g, decode) {
    drawCodeScreen(g, decode, "26535897", "One-time password");
  }),
  screen("screen: code, 10 digits", function (g, decode) {
    drawCodeScreen(g, decode, "9323846264", "SECURITY CODE");
  }),
];
