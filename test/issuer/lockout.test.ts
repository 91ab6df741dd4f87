/**
 * Issue 10, item 2: a guesser with no key must not keep the holder out.
 * The attack: five wrong verifies lock the card, then a failing resync each
 * time retryAfter runs out, so the resync back-off never ends; plus wrong
 * verifies and garbage strong resyncs whenever it can. The holder, acting as
 * docs/issuer-api.md ("The holder's way back in") says, must get through
 * within the documented time, on the issuer's injected clock.
 */
import { expect } from "chai";
import { DerivedKeys } from "../../host-tools/issuer/keys.ts";
import { DEFAULT_POLICY, strongResyncCodes } from "../../host-tools/issuer/policy.ts";
import { Issuer } from "../../host-tools/issuer/service.ts";
import { openStore } from "../../host-tools/issuer/store/open.ts";
import type { Store } from "../../host-tools/issuer/store/types.ts";
import type { VerifyResult } from "../../host-tools/issuer/verify.ts";
import type { ProvisioningPackage } from "../../host-tools/issuer/card.ts";
import { codeOf, FakeClock, TEST_MASTER_KEY } from "./support.ts";

// The holder's documented waits (docs/issuer-api.md): a counter card gets back in at once with a strong
// resync; a time card once it has read its code at 6 consecutive steps (5 steps after the first).
const DOC_COUNTER_WAIT_S = 0;
const DOC_TIME_WAIT_STEPS = 5;
const STEP = 300;
const DAY_S = 86400;

/** Any answer, or the refusal the issuer threw (a 400 or 409 before the fix). */
async function attempt(f: () => Promise<VerifyResult | undefined>): Promise<VerifyResult> {
  try {
    return (await f())!;
  } catch (e) {
    return { ok: false, reason: `error: ${(e as Error).message}` as never };
  }
}

/** A guess sure to fail: none of the codes near `near` (counters or steps). */
function wrong(pkg: ProvisioningPackage, near: number[]): string {
  const codes = new Set(near.map((c) => codeOf(pkg, c)));
  for (let n = 0; ; n++) if (!codes.has(String(n).padStart(pkg.digits, "0"))) return String(n).padStart(pkg.digits, "0");
}

/**
 * The guesser, at one instant: every wrong verify and resync the card will
 * evaluate now, and one garbage strong resync. Returns when it must wait, and how long.
 */
async function guessNow(issuer: Issuer, cardId: string, guess: () => string, strongCodes: number, tally: { single: number; resync: number }) {
  for (;;) {
    const g = guess();
    const v = await attempt(() => issuer.verify(cardId, g, "guesser"));
    if (v.reason === "mismatch" || v.reason === "replay") {
      tally.single++;
      continue;
    }
    const r = await attempt(() => issuer.resync(cardId, [g, g, g], "guesser"));
    if (r.reason === "mismatch") {
      tally.resync++;
      continue;
    }
    await attempt(() => issuer.resync(cardId, Array(strongCodes).fill(g), "guesser"));
    return Math.min(v.retryAfter ?? Infinity, r.retryAfter ?? Infinity);
  }
}

describe("issuer lock-out: a guesser cannot keep the holder out (default policy, 3-digit codes)", function () {
  this.timeout(120_000);
  let store: Store;
  let clock: FakeClock;
  let issuer: Issuer;

  beforeEach(async () => {
    store = await openStore(":memory:");
    clock = new FakeClock();
    issuer = new Issuer({ store, keys: new DerivedKeys(TEST_MASTER_KEY), now: clock.now });
  });
  afterEach(() => store.close());

  it("counter card: after a day of the attack the holder gets back in at once, with a strong resync", async () => {
    const { card, package: pkg } = await issuer.createCard({ mode: "counter", digits: 3 }, "bank");
    const strong = strongResyncCodes(DEFAULT_POLICY, 3);
    expect(strong).to.equal(6);
    const tally = { single: 0, resync: 0 };
    const guess = () => wrong(pkg, Array.from({ length: 1100 }, (_, c) => c));
    const holderArrives = clock.ms + DAY_S * 1000;
    // The attack: as fast as the card allows, for a day.
    while (clock.ms < holderArrives) {
      const wait = await guessNow(issuer, card.id, guess, strong, tally);
      clock.advance(Math.min(wait, (holderArrives - clock.ms) / 1000));
    }
    expect((await issuer.getCard(card.id))!.status).to.equal("locked");

    // The holder, as the docs say, with the guesser acting first at every instant, for up to 30 days.
    let press = 0;
    const next = (n: number) => Array.from({ length: n }, () => codeOf(pkg, press++));
    const refusals: string[] = [];
    let through: VerifyResult | undefined;
    while (!through && clock.ms < holderArrives + 30 * DAY_S * 1000) {
      const wait = await guessNow(issuer, card.id, guess, strong, tally);
      const v = await attempt(() => issuer.verify(card.id, next(1)[0], "holder"));
      if (v.ok) through = v;
      const r = through ? v : await attempt(() => issuer.resync(card.id, next(DEFAULT_POLICY.resyncCodes), "holder"));
      if (r.ok) through = r;
      const s = through ? r : await attempt(() => issuer.resync(card.id, next(r.strongCodes ?? strong), "holder"));
      if (s.ok) through = s;
      if (!through) {
        refusals.push([v, r, s].map((x) => x.reason).join("/"));
        clock.advance(Math.max(1, Math.min(wait, 3600)));
      }
    }
    const waited = (clock.ms - holderArrives) / 1000;
    expect(through, `holder refused for ${waited} s: ${refusals.slice(0, 3).join(", ")}`).to.not.equal(undefined);
    expect(waited).to.be.at.most(DOC_COUNTER_WAIT_S);
    expect((await issuer.getCard(card.id))!.status).to.equal("active");
    // The guesser's evaluated guesses stayed within the documented bound: 5 single codes, and
    // resyncs at the back-off's pace (12 in the first 68 minutes, then one an hour).
    expect(tally.single).to.equal(DEFAULT_POLICY.lockAfter);
    expect(tally.resync).to.be.at.most(12 + 24);
  });

  it("time card: the holder gets back in once the card has shown 6 consecutive codes, with no issuer unblock", async () => {
    const { card, package: pkg } = await issuer.createCard({ mode: "time", digits: 3, step: STEP }, "bank");
    const strong = strongResyncCodes(DEFAULT_POLICY, 3);
    const tally = { single: 0, resync: 0 };
    const stepNow = () => Math.floor(clock.ms / 1000 / STEP);
    const guess = () => wrong(pkg, Array.from({ length: 7 }, (_, i) => stepNow() - 3 + i));
    const holderArrives = clock.ms + DAY_S * 1000;
    while (clock.ms < holderArrives) {
      const wait = await guessNow(issuer, card.id, guess, strong, tally);
      clock.advance(Math.min(wait, (holderArrives - clock.ms) / 1000));
    }
    expect((await issuer.getCard(card.id))!.status).to.equal("locked");

    // The holder reads the code at each step, tries it, and resyncs with the codes read so far
    // (the last `strong` of them) once there are enough; the guesser acts throughout.
    const read: string[] = [];
    const firstStep = stepNow();
    let through: VerifyResult | undefined;
    const refusals: string[] = [];
    while (!through && stepNow() - firstStep < 30 * 288) {
      read.push(codeOf(pkg, stepNow()));
      await guessNow(issuer, card.id, guess, strong, tally);
      const v = await attempt(() => issuer.verify(card.id, read[read.length - 1], "holder"));
      if (v.ok) through = v;
      else if (read.length >= DEFAULT_POLICY.resyncCodes) {
        const r = await attempt(() => issuer.resync(card.id, read.slice(-DEFAULT_POLICY.resyncCodes), "holder"));
        const s = r.ok || read.length < strong ? r : await attempt(() => issuer.resync(card.id, read.slice(-strong), "holder"));
        if (s.ok) through = s;
        refusals.push([v, r, s].map((x) => x.reason).join("/"));
      }
      if (!through) {
        // Within the step, the guesser keeps going; the holder reads the next code when it shows.
        const nextStepMs = (stepNow() + 1) * STEP * 1000;
        while (clock.ms < nextStepMs) {
          const wait = await guessNow(issuer, card.id, guess, strong, tally);
          clock.advance(Math.min(wait, (nextStepMs - clock.ms) / 1000));
        }
      }
    }
    const waitedSteps = stepNow() - firstStep;
    expect(through, `holder refused for ${waitedSteps} steps: ${refusals.slice(0, 3).join(", ")}`).to.not.equal(undefined);
    expect(waitedSteps).to.be.at.most(DOC_TIME_WAIT_STEPS);
    expect(through).to.deep.include({ ok: true, step: stepNow() });
    expect(tally.single).to.equal(DEFAULT_POLICY.lockAfter);
  });

  it("a failed strong resync changes nothing; a strong resync does not lift an issuer block", async () => {
    const { card, package: pkg } = await issuer.createCard({ mode: "counter", digits: 3 }, "bank");
    const strong = strongResyncCodes(DEFAULT_POLICY, 3);
    const before = (await store.getCard(card.id))!;
    const g = wrong(pkg, Array.from({ length: 1100 }, (_, c) => c));
    for (let i = 0; i < 50; i++) expect(await issuer.resync(card.id, Array(strong).fill(g), "guesser")).to.deep.equal({ ok: false, reason: "mismatch" });
    const after = (await store.getCard(card.id))!;
    expect({ ...after, version: 0 }).to.deep.equal({ ...before, version: 0 });
    await issuer.setBlocked(card.id, true, "bank");
    const codes = Array.from({ length: strong }, (_, c) => codeOf(pkg, c));
    expect(await issuer.resync(card.id, codes, "holder")).to.deep.equal({ ok: false, reason: "blocked" });
    await issuer.setBlocked(card.id, false, "bank");
    expect(await issuer.resync(card.id, codes, "holder")).to.deep.equal({ ok: true, counter: strong - 1 });
    // Between the short and the strong length is neither: a 400.
    let status = 0;
    await issuer.resync(card.id, Array(strong - 1).fill(g), "holder").catch((e: { status: number }) => (status = e.status));
    expect(status).to.equal(400);
  });
});
