/**
 * The card's codes on the real interpreter, through the press path of
 * issue 9: a version 2 profile (the HMAC key pads, core/profile.ts) in
 * Storage, read in place from flash by readProfile and hashed by padOtp
 * over Espruino's native crypto (hal/crypto.ts digestParts), a Card per
 * press as main.ts makes one. Built as the card builds code
 * (test/card/bundle.ts) and run from Storage. Checked: RFC 4226 appendix D
 * (counters 0..9 from presses 1..10), RFC 6238 appendix B for SHA-1 and
 * SHA-256 (the hashes the MDBT42Q has), random profiles from a seed against
 * node:crypto's HMAC, and a damaged profile showing "not issued". The seed
 * is in the test's title; INKCARD_SEED replays it. How fast this is, is
 * bench/press.ts's business, not a test's.
 */
import { expect } from "chai";
import { createHmac, randomBytes } from "node:crypto";
import { RFC4226, RFC6238 } from "../vectors.ts";
import { requireEspruino } from "../build/espruino.ts";
import { bundleForCard, runFromStorage } from "./bundle.ts";
import { randomCases, vectorCases, type CodeCase } from "./codes-cases.ts";

const SEED = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);
const CASES = 24;

/** HOTP by node:crypto, with RFC 4226's truncation written out here. */
function reference(c: CodeCase, press: number): string {
  const p = c.profile;
  const counter = p.mode === "counter" ? p.startCounter + press : Math.floor(Math.floor(c.times[press]) / p.stepSeconds);
  const block = Buffer.alloc(8);
  block.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
  block.writeUInt32BE(counter % 2 ** 32, 4);
  const h = createHmac(p.algorithm.replace("SHA", "sha"), p.key).update(block).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 10 ** p.digits).padStart(p.digits, "0");
}

describe("the card's codes on the Espruino interpreter", function () {
  this.timeout(300_000);
  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });

  it(`shows RFC 4226/6238 codes and node:crypto's for ${CASES} random profiles (seed ${SEED}), from the pads in flash`, async () => {
    const code = await bundleForCard(new URL("./codes-main.ts", import.meta.url).pathname, {
      INKCARD_SEED: String(SEED),
      INKCARD_CASES: String(CASES),
    });
    const out = await runFromStorage(code, /\ndone\n/, 240_000);
    const all = out.split("\n");
    const lines = all.slice(all.findIndex((l) => l.endsWith("start")));
    const shown = (name: string, press: number) => {
      const l = lines.find((x) => x.startsWith(`C ${name} ${press} `) || x === `N ${name} ${press}`);
      return l === undefined ? "missing" : l.startsWith("N ") ? "not issued" : l.split(" ")[3];
    };

    // The published vectors, as published (not through the reference above).
    RFC4226.forEach(([, , want], i) => expect(shown("rfc4226", i), `RFC 4226 counter ${i}`).to.equal(want));
    for (const alg of ["SHA1", "SHA256"] as const) {
      RFC6238.forEach(([t, , want], i) => expect(shown(`rfc6238-${alg}`, i), `RFC 6238 ${alg} at ${t}`).to.equal(want[alg]));
    }
    // The reference agrees with them, and then judges the random cases.
    for (const c of vectorCases()) c.times.forEach((_, i) => expect(reference(c, i), c.name).to.equal(shown(c.name, i)));
    let n = 0;
    for (const c of randomCases(SEED, CASES)) {
      c.times.forEach((_, i) => {
        expect(shown(c.name, i), `${c.name} press ${i} (${c.profile.mode}, ${c.profile.algorithm}, ${c.profile.key.length}-byte key)`).to.equal(reference(c, i));
        n++;
      });
    }
    expect(n).to.equal(2 * CASES);
    expect(shown("damaged", 0), "a profile damaged in one pad byte").to.equal("not issued");
  });
});
