import { readFileSync } from "node:fs";
import { expect } from "chai";
import { FONT_FILES, FONT_MODULE, generateFontModule, packFont, parseFontArt } from "../../host-tools/fonts/generate.ts";
import { createGraphicsClass } from "../../sim/board/graphics.ts";
import { digitsFont, smallFont, type CustomFont } from "../../firmware/core/font.ts";

const HEADER = "name t\nheight 3\nspacing 1\n";

describe("fonts (host-tools/fonts/generate.ts -> firmware/core/font.ts)", () => {
  it("font.ts is what the generator makes of firmware/fonts/ today", () => {
    expect(readFileSync(FONT_MODULE, "utf8"), "run npx tsx host-tools/fonts/generate.ts").to.equal(generateFontModule().source);
  });

  it("keeps the font data small: under 1.5 KB for both fonts", () => {
    expect(generateFontModule().bytes).to.be.below(1536);
  });

  it("packs glyphs column by column, top to bottom, MSB first, with no padding", () => {
    // A: columns 101, 011 then a spacing column 000; B: 1, spacing 000 -> bits 101011000 100 ...
    const font = packFont(parseFontArt(`${HEADER}char 65 A\n#.\n.#\n##\nchar 66 B\n#\n.\n.\n`, "t.txt"));
    expect(font.first).to.equal(65);
    expect([...font.widths]).to.deep.equal([3, 2]);
    expect([...font.bitmap]).to.deep.equal([0b10101100, 0b01000000]);
  });

  it("splits spacing around the glyph, the odd column after it", () => {
    const font = packFont(parseFontArt("name t\nheight 1\nspacing 3\nchar 48 0\n#\n", "t.txt"));
    expect([...font.widths]).to.deep.equal([4]);
    expect([...font.bitmap]).to.deep.equal([0b01000000]);
  });

  it("reports mistakes in a font file with file and line", () => {
    const bad = (text: string) => () => parseFontArt(HEADER + text, "f.txt");
    expect(bad("char 65 A\n#.\n.#\n")).to.throw("f.txt:4: char 65 has 2 rows, expected 3");
    expect(bad("char 65 A\n#.\n.x\n##\n")).to.throw("f.txt:6: char 65: a row is only '#' and '.'");
    expect(bad("char 65 A\n#.\n.#\n###\n")).to.throw("f.txt:7: char 65: rows differ in width");
    expect(bad("char 65 A\n#\n#\n#\nchar 67 C\n#\n#\n#\n")).to.throw("f.txt:8: char 67 out of order: expected 66");
    expect(bad("char 65 A\n#\n#\n#\nspacing 2\n")).to.throw('f.txt:8: header "spacing" after the first glyph');
    expect(() => parseFontArt("name t\nspacing 1\nchar 65\n#\n", "f.txt")).to.throw('f.txt: header "height" must be an integer 1..255');
  });

  // The generator and the emulation read the same layout; graphics.test.ts ties the emulation to Espruino.
  for (const [i, [name, font]] of ([["digits", digitsFont()], ["small", smallFont()]] as Array<[string, CustomFont]>).entries()) {
    it(`draws every ${name} glyph exactly as ${FONT_FILES[i]} shows it`, () => {
      const art = parseFontArt(readFileSync(FONT_FILES[i], "utf8"), FONT_FILES[i]);
      const g = createGraphicsClass().createArrayBuffer(64, art.height, 1);
      g.setFontCustom(atob(font.bitmap), font.first, atob(font.widths), font.height);
      art.glyphs.forEach((rows, k) => {
        g.clear();
        g.drawString(String.fromCharCode(art.first + k), 0, 0);
        const left = art.spacing >> 1;
        for (let y = 0; y < art.height; y++) {
          let drawn = "";
          for (let x = 0; x < rows[0].length + art.spacing; x++) drawn += g.getPixel(x, y) ? "#" : ".";
          expect(drawn, `char ${art.first + k} row ${y}`).to.equal(".".repeat(left) + rows[y] + ".".repeat(art.spacing - left));
        }
      });
    });
  }
});
