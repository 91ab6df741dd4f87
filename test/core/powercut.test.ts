/**
 * Power cuts at every flash operation of 1,000 presses, on the flash model
 * through the Storage model, whole and mid-write. A reference card runs the
 * presses; before each step (the first boot, then each press) the flash is
 * snapshotted and the step's operations recorded. Then, for every operation
 * of every step and several cut points inside it, a card booted from the
 * snapshot is cut there, powered up again as a new Card over the same flash,
 * and pressed a few more times. Over the whole history no counter value (and
 * no code) is shown twice and the counter never goes back.
 *
 * The card may instead refuse (show "not issued") after a cut, but only
 * where the cut hit a Storage compaction, which can lose files on a real
 * card too; the test counts those.
 */
import { expect } from "chai";
import { Flash } from "../../sim/board/flash.ts";
import type { FlashOp } from "../../sim/board/flash.ts";
import { PowerCut } from "../../sim/board/flash.ts";
import { Storage } from "../../sim/board/storage.ts";
import { hotp } from "../../firmware/core/otp.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { RECORD_BYTES } from "../../firmware/core/link.ts";
import { BUDGET_BYTES } from "../../host-tools/build/build.ts";
import { provision, rig, testProfile } from "../support/card-rig.ts";

const PRESSES = 1000;
const AFTER = 3; // presses after each reboot
const profile = testProfile({ startCounter: 4_000_000_000, digits: 10 });

interface Step {
  image: Uint8Array;
  ops: FlashOp[];
}

interface Outcome {
  scenarios: number;
  /** Presses during which Storage compacted. */
  compactions: number;
  refusals: number;
  maxWordWrites: number;
}

/** Cut points inside one operation: none (it completes), and partway. */
function partials(op: FlashOp): Array<number | undefined> {
  if (op.op === "erase") return [undefined, 0, op.len / 2];
  const cuts = new Set([0, 1, op.len >> 1, op.len - 1]);
  return [undefined, ...[...cuts].filter((b) => b < op.len)];
}

function counterOf(caption: string): number {
  const m = /#(\d+)$/.exec(caption);
  if (!m) throw new Error(`caption without a counter: ${caption}`);
  return Number(m[1]);
}

function run(steps: number, fillerBytes: number): Outcome {
  // Reference: a card pressed PRESSES times, flash snapshotted before each step.
  const flash = new Flash({ strict: true });
  const storage = new Storage(flash);
  if (fillerBytes) {
    storage.write(".bootcde", new Uint8Array(fillerBytes).fill(0x20)); // the saved firmware
    // A paired phone's two link records (core/link.ts).
    storage.write("ink.link0", new Uint8Array(RECORD_BYTES));
    storage.write("ink.link1", new Uint8Array(RECORD_BYTES));
  }
  provision(storage, profile);
  const ref = rig(flash, { counterSteps: steps });
  const history: Step[] = [];
  for (let s = 0; s <= PRESSES; s++) {
    const image = flash.snapshot();
    flash.trace = [];
    if (s === 0) ref.card.boot();
    else ref.card.press();
    history.push({ image, ops: flash.trace });
  }
  flash.trace = undefined;
  const refCodes = ref.display.codes();
  expect(refCodes.map((c) => counterOf(c.caption))).to.deep.equal(
    Array.from({ length: PRESSES }, (_, i) => profile.startCounter + i),
  );
  const sha = nodeHash(profile.algorithm);
  for (const c of refCodes) expect(c.code).to.equal(hotp(sha, profile.key, counterOf(c.caption), profile.digits));

  const refIndex = new Map(refCodes.map((c, i) => [c.code, i]));
  expect(refIndex.size, "reference codes are distinct").to.equal(PRESSES);
  let scenarios = 0;
  let refusals = 0;
  for (let s = 0; s <= PRESSES; s++) {
    const { image, ops } = history[s];
    // Shown before this step: the reference codes of presses 1..s-1.
    const before = refCodes.slice(0, Math.max(0, s - 1));
    const compacting = ops.some((o) => o.op === "erase");
    for (let j = 0; j < ops.length; j++) {
      for (const bytes of partials(ops[j])) {
        scenarios++;
        const where = `step ${s} op ${j + 1}/${ops.length} (${ops[j].op} ${ops[j].len} B at ${ops[j].addr}) cut after ${bytes ?? "all"} bytes`;
        const f = new Flash({ image });
        const victim = rig(f, { counterSteps: steps });
        if (s > 0) {
          victim.card.boot();
          expect(f.stats().writes, `${where}: a reboot wrote`).to.equal(0);
        }
        f.cutAfterWrites(j + 1, bytes);
        expect(() => (s === 0 ? victim.card.boot() : victim.card.press()), where).to.throw(PowerCut);
        expect(victim.display.codes(), `${where}: a code was shown`).to.deep.equal([]);

        f.powerUp();
        const after = rig(f, { counterSteps: steps });
        after.card.boot();
        for (let k = 0; k < AFTER; k++) after.card.press();
        const codes = after.display.codes();
        if (codes.length === 0) {
          expect(compacting, `${where}: refused without a compaction`).to.equal(true);
          expect(after.display.shown.every((x) => x.kind === "notIssued")).to.equal(true);
          refusals++;
          continue;
        }
        expect(codes, where).to.have.length(AFTER);
        // Plain checks first, chai only on failure: this runs thousands of times.
        const last = s > 1 ? counterOf(before[before.length - 1].caption) : -1;
        let prev = last;
        for (const c of codes) {
          const n = counterOf(c.caption);
          if (!(n > prev)) expect.fail(`${where}: counter went from ${prev} to ${n}`);
          if (c.code !== hotp(sha, profile.key, n, profile.digits)) expect.fail(`${where}: wrong code for ${n}`);
          const seen = refIndex.get(c.code);
          if (seen !== undefined && seen < before.length) expect.fail(`${where}: code of press ${seen + 1} shown again`);
          prev = n;
        }
        if (new Set(codes.map((c) => c.code)).size !== codes.length) expect.fail(`${where}: a code repeated`);
      }
    }
  }
  const compactions = history.filter((h) => h.ops.some((o) => o.op === "erase")).length;
  return { scenarios, compactions, refusals, maxWordWrites: flash.stats().maxWordWrites };
}

describe("power cuts at every flash write of 1,000 presses", function () {
  this.timeout(300_000);

  it("256 presses per counter file, beside a bundle of the whole budget and a paired phone's records: never a repeat, never back", () => {
    const o = run(256, BUDGET_BYTES);
    expect(o.scenarios).to.be.greaterThan(5 * PRESSES);
    expect(o.maxWordWrites).to.be.at.most(2);
    // Storage this full compacts every other rollover; only a cut inside one can lose the counter (run() checks that).
    expect(o.refusals).to.be.at.most(o.compactions * 20);
    console.log(`      ${o.scenarios} cuts, ${o.compactions} compactions, ${o.refusals} refusals (all during one)`);
  });

  it("16 presses per file in a nearly full Storage (compaction every few rollovers): never a repeat, never back", () => {
    const o = run(16, 38 * 1024);
    expect(o.scenarios).to.be.greaterThan(5 * PRESSES);
    expect(o.compactions).to.be.greaterThan(2);
    expect(o.maxWordWrites).to.be.at.most(2);
    // Some cuts during compaction lose the counter; the card then refuses rather than repeat.
    console.log(`      ${o.scenarios} cuts, ${o.compactions} compactions, ${o.refusals} refusals (all during one)`);
  });
});
