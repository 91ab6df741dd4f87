/**
 * The card's AEAD (core/aead.ts, inkcard/etm/v1 over the native SHA-256) on
 * the real interpreter, built as the card builds it (test/card/bundle.ts)
 * and run from Storage: every documented vector, then random cases made
 * from a seed on both sides (test/card/aead-cases.ts) whose sealed bytes
 * must equal the reference's (test/core/etm-reference.ts, node:crypto),
 * which must open again, and which must not open with one bit flipped (in
 * ciphertext, tag or aad). The seed is printed; INKCARD_SEED replays it.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { requireEspruino } from "../build/espruino.ts";
import { AEAD_VECTORS } from "../core/aead-vectors.ts";
import { refSeal } from "../core/etm-reference.ts";
import { aeadCases } from "./aead-cases.ts";
import { bundleForCard, runFromStorage } from "./bundle.ts";

const SEED = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);
const CASES = 24;

describe("the card's AEAD on the Espruino interpreter", function () {
  this.timeout(300_000);
  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });

  it(`passes the documented vectors and agrees with node:crypto on ${CASES} random frames (seed ${SEED})`, async () => {
    const code = await bundleForCard(new URL("./aead-main.ts", import.meta.url).pathname, {
      INKCARD_VECTORS: JSON.stringify(AEAD_VECTORS),
      INKCARD_SEED: String(SEED),
      INKCARD_CASES: String(CASES),
    });
    const out = await runFromStorage(code, /\ndone\n/, 240_000);
    // The program's lines, from its "start" (the console may put an escape code before it on that line).
    const all = out.split("\n");
    const lines = all.slice(all.findIndex((l) => l.endsWith("start")));
    const vec = lines.filter((l) => l.startsWith("V "));
    expect(vec.length, "vectors run").to.equal(2 * AEAD_VECTORS.length);
    for (const l of vec) expect(l, "a vector on the card").to.match(/ ok$/);

    const field = (tag: string, i: number) => lines.find((l) => l.startsWith(`${tag} ${i} `))?.split(" ")[2];
    const next = aeadCases(SEED);
    for (let i = 0; i < CASES; i++) {
      const c = next();
      const want = Buffer.from(refSeal(c.key, c.nonce, c.aad, c.plaintext)).toString("hex");
      expect(field("S", i), `case ${i}: sealed on the card vs node:crypto`).to.equal(want);
      expect(field("O", i), `case ${i}: opened on the card`).to.equal("1");
      expect(field("T", i), `case ${i}: bit ${c.flip} flipped, opened anyway`).to.equal("1");
    }
    // Free variables after each case: a leak of even one variable per frame would show as a steady fall.
    const free = lines.filter((l) => l.startsWith("M ")).map((l) => Number(l.slice(2)));
    expect(free.length).to.equal(CASES);
    expect(free[0] - free[free.length - 1], "variables lost over the cases").to.be.at.most(8);
  });
});
