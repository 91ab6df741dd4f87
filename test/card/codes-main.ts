/**
 * The program test/card/codes-espruino.test.ts runs on the interpreter: for
 * each case (test/card/codes-cases.ts) it writes the profile record
 * (encodeProfile, version 2: the HMAC key pads) to Storage as a provisioning
 * tool does, boots a Card over the card's own hal (flash Storage, native
 * crypto) and presses it, a new Card for each press as main.ts makes one per
 * event, time mode at each of the case's times. Prints
 *   start
 *   C <case> <press> <code>      the code the card showed
 *   N <case> <press>             "not issued" shown instead
 *   done
 * and last a profile damaged in one byte, which must show "not issued".
 */
import { Card } from "../../firmware/core/card";
import { encodeProfile } from "../../firmware/core/profile";
import type { Hash } from "../../firmware/core/types";
import { boardHashes } from "../../firmware/hal/crypto";
import { flashStore } from "../../firmware/hal/storage";
import type { CodeCase } from "./codes-cases";
import { randomCases, vectorCases } from "./codes-cases";

declare function print(...text: unknown[]): void;
declare const INKCARD_SEED: number;
declare const INKCARD_CASES: number;

const PROFILE = "ink.prof";
const COUNTER = "ink.ctr";
const hashes = boardHashes(["SHA1", "SHA256"]);
let now = 0;
let shown = "";

const display = {
  showCode: function (code: string): void {
    shown = code;
  },
  showNotIssued: function (): void {
    shown = "";
  },
  wipe: function (): void {},
};

/** A card as main.ts builds one for each event. */
function makeCard(): Card {
  return new Card({
    store: flashStore,
    hashes: hashes,
    clock: function (): number {
      return now;
    },
    display: display,
    profileFile: PROFILE,
    counterPrefix: COUNTER,
    wipeAfterMs: 1000,
  });
}

function run(c: CodeCase, record: Uint8Array): void {
  flashStore.erase(PROFILE);
  flashStore.erase(COUNTER + "0");
  flashStore.erase(COUNTER + "1");
  flashStore.write(PROFILE, record, 0);
  makeCard().boot();
  for (let i = 0; i < c.times.length; i++) {
    now = c.times[i];
    shown = "";
    makeCard().press();
    if (shown) print("C", c.name, i, shown);
    else print("N", c.name, i);
  }
}

print("start");
const sha256 = hashes("SHA256") as Hash;
const cases = vectorCases().concat(randomCases(INKCARD_SEED, INKCARD_CASES));
for (let k = 0; k < cases.length; k++) run(cases[k], encodeProfile(cases[k].profile, sha256));
const damaged = encodeProfile(cases[0].profile, sha256);
damaged[30] ^= 1; // a pad byte
run({ name: "damaged", profile: cases[0].profile, times: [0] }, damaged);
print("done");
