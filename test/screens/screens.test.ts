import { readFileSync } from "node:fs";
import { expect } from "chai";
import { drawCodeScreen, drawNotIssuedScreen, MAX_CODE_DIGITS, MIN_CODE_DIGITS } from "../../firmware/core/screens.ts";
import { pngToFrame } from "./png.ts";
import { CAPTION, decode, HEIGHT, render, SCREENS, WIDTH, type TextRun } from "./render.ts";

/** Pixels that differ between two frames. */
function differing(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) for (let v = a[i] ^ b[i]; v; v &= v - 1) n++;
  return n;
}

/** Any ink within `border` pixels of the frame's edge? */
function inkNearEdge(frame: Uint8Array, border: number): boolean {
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const edge = x < border || y < border || x >= WIDTH - border || y >= HEIGHT - border;
      const i = y * WIDTH + x;
      if (edge && !((frame[i >> 3] >> (7 - (i & 7))) & 1)) return true;
    }
  }
  return false;
}

const overlap = (a: TextRun, b: TextRun) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** A code of n digits using every digit. */
const codeOf = (n: number, shift: number) => Array.from({ length: n }, (_, i) => String((i * 7 + shift) % 10)).join("");

describe("screens (firmware/core/screens.ts)", () => {
  for (const [name, draw] of Object.entries(SCREENS)) {
    it(`draws ${name} exactly as ref/${name}.png`, () => {
      const ref = pngToFrame(readFileSync(`test/screens/ref/${name}.png`));
      expect([ref.width, ref.height]).to.deep.equal([WIDTH, HEIGHT]);
      const { frame } = render(draw);
      expect(differing(frame, ref.frame), "pixels differ; if the change is meant, run npx tsx test/screens/make-refs.ts and look").to.equal(0);
    });
  }

  describe("the code screen", () => {
    for (let n = MIN_CODE_DIGITS; n <= MAX_CODE_DIGITS; n++) {
      it(`fits ${n} digits inside the panel, every run apart, the code intact`, () => {
        for (let shift = 0; shift < 10; shift += 3) {
          const code = codeOf(n, shift);
          const { frame, runs } = render((s) => drawCodeScreen(s, decode, code, CAPTION));
          expect(inkNearEdge(frame, 4), "ink at the edge: something was cut off").to.equal(false);
          for (const r of runs) {
            expect(r.x >= 0 && r.y >= 0 && r.x + r.width <= WIDTH && r.y + r.height <= HEIGHT, `${r.text} inside`).to.equal(true);
          }
          runs.forEach((a, i) => runs.slice(i + 1).forEach((b) => expect(overlap(a, b), `${a.text} / ${b.text}`).to.equal(false)));
          const digits = runs.filter((r) => /^\d+$/.test(r.text));
          expect(digits.map((r) => r.text).join("")).to.equal(code);
          expect(digits.length).to.equal(n <= 6 ? 1 : 2);
          expect(runs.map((r) => r.text)).to.include(CAPTION);
          expect(Math.min(...digits.map((r) => r.height))).to.be.at.least(48);
        }
      });
    }

    it("draws the caption smaller when it is long, and refuses one that cannot fit", () => {
      const long = "ONE-TIME PASSWORD FOR PAYMENTS";
      const { runs } = render((s) => drawCodeScreen(s, decode, "123456", long));
      expect(runs.find((r) => r.text === long)?.height).to.equal(9);
      expect(() => render((s) => drawCodeScreen(s, decode, "123456", "W".repeat(40)))).to.throw("does not fit");
    });

    it("refuses a code it cannot show whole, without putting it in the error", () => {
      for (const code of ["12", "12345678901", "12a4", " 123", "", "１２３"]) {
        expect(() => render((s) => drawCodeScreen(s, decode, code, CAPTION))).to.throw(/^code must be/);
      }
      expect(() => render((s) => drawCodeScreen(s, decode, "12345678901", CAPTION)))
        .to.throw()
        .with.property("message")
        .that.does.not.include("1234");
      // A panel too small for 10 digits on two lines: an error, not a cut-off code.
      expect(() => render((s) => drawCodeScreen(s, decode, "1234567890", CAPTION), 128, 128)).to.throw("does not fit");
    });

    it("refuses a caption that is empty, too long or not printable ASCII", () => {
      for (const caption of ["", "x".repeat(41), "CODE\n", "CÖDE"]) {
        expect(() => render((s) => drawCodeScreen(s, decode, "123", caption))).to.throw(/^caption must be/);
      }
    });
  });

  it("the not-issued screen says so and shows no digits", () => {
    const { runs } = render((s) => drawNotIssuedScreen(s, decode));
    expect(runs.map((r) => r.text)).to.deep.equal(["NOT ISSUED", "No card profile", "Contact your card issuer"]);
    expect(runs.some((r) => /\d/.test(r.text))).to.equal(false);
  });

  it("the blank screen is paper only", () => {
    const { frame, runs } = render(SCREENS.blank);
    expect(frame.every((b) => b === 0xff)).to.equal(true);
    expect(runs).to.deep.equal([]);
  });
});
