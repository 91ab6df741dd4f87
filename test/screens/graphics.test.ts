import { expect } from "chai";
import { createGraphicsClass } from "../../sim/board/graphics.ts";
import { loadReference, runCases } from "./crosscheck/reference.ts";

describe("Graphics emulation (sim/board/graphics.ts)", () => {
  describe("against the Espruino 2v29 interpreter (ref/espruino.json, from crosscheck.ts --save)", () => {
    const reference = loadReference();
    const emulated = runCases();

    it("has a stored result for every case", () => {
      expect(emulated.map((c) => c.name), "run crosscheck.ts --save after changing cases.ts").to.deep.equal(reference.map((c) => c.name));
    });
    for (const [i, ref] of reference.entries()) {
      it(`draws "${ref.name}" byte for byte`, () => {
        const mine = emulated[i];
        expect(mine.values, "measured values").to.deep.equal(ref.values);
        const a = Buffer.from(mine.buffer, "base64");
        const b = Buffer.from(ref.buffer, "base64");
        const first = a.findIndex((v, k) => v !== b[k]);
        expect(first, `first differing byte ${first}`).to.equal(a.length === b.length ? -1 : Math.min(a.length, b.length));
        expect(a.length).to.equal(b.length);
      });
    }
  });

  describe("text runs and hooks", () => {
    const font = "\xff\xff\xff\xff"; // 4 glyphs of 1 column x 8 rows, all ink
    it("reports each line drawn at its top-left corner after alignment", () => {
      const runs: Array<[string, number, number]> = [];
      const Graphics = createGraphicsClass({ onDrawString: (_g, text, x, y) => runs.push([text, x, y]) });
      const g = Graphics.createArrayBuffer(50, 40, 1, { msb: true });
      g.setFontCustom(font, 65, "\x02\x03\x05", 8);
      g.drawString("AB", 1, 2);
      g.setFontAlign(0, 0);
      g.drawString("ABC\nA", 25, 20); // widths 10 and 2, height 16
      g.setFontAlign(1, 1);
      g.drawString("C", 49, 39);
      g.drawString("", 0, 0);
      expect(runs).to.deep.equal([["AB", 1, 2], ["ABC", 20, 12], ["A", 24, 20], ["C", 44, 31]]);
    });

    it("reports clear()", () => {
      let cleared = 0;
      const g = createGraphicsClass({ onClear: () => cleared++ }).createArrayBuffer(8, 8, 1);
      g.clear();
      g.clear(true);
      expect(cleared).to.equal(2);
    });
  });

  describe("layout and errors", () => {
    const Graphics = createGraphicsClass();
    it("lays 1 bpp out as the panel's RAM: rows, MSB = leftmost pixel", () => {
      const g = Graphics.createArrayBuffer(16, 2, 1, { msb: true });
      g.setPixel(0, 0);
      g.setPixel(9, 1);
      expect([...new Uint8Array(g.buffer)]).to.deep.equal([0x80, 0, 0, 0x40]);
      expect(g.getPixel(9, 1)).to.equal(1);
      expect(g.getPixel(99, 1)).to.equal(0);
    });

    it("rejects what Espruino rejects", () => {
      expect(() => Graphics.createArrayBuffer(0, 10, 1)).to.throw("Invalid Size");
      expect(() => Graphics.createArrayBuffer(10, 10, 3)).to.throw("Invalid BPP");
      const g = Graphics.createArrayBuffer(8, 8, 1);
      expect(() => g.setFontCustom(new ArrayBuffer(4), 32, 2, 8)).to.throw("Font bitmap must be a String");
      expect(() => g.setFontCustom("x", 300, 2, 8)).to.throw("First character out of range");
      expect(() => g.setFontCustom("x", 32, 1.5, 8)).to.throw("Font width must be a String or an integer");
      expect(() => g.setFontCustom("x", 32, 2, 8 | (3 << 16))).to.throw("Invalid BPP");
    });

    it("refuses what it does not emulate instead of drawing it differently", () => {
      const g = Graphics.createArrayBuffer(8, 8, 1);
      expect(() => g.drawString("hi", 0, 0)).to.throw(/built-in 4x6 font/);
      expect(() => g.setFontAlign(0, 0, 1)).to.throw(/rotated text/);
      expect(() => g.setColor(1, 0, 0)).to.throw(/colour/);
      expect(() => Graphics.createArrayBuffer(8, 8, 1, { zigzag: true })).to.throw(/not emulated/);
    });
  });
});
