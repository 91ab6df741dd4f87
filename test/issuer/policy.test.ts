/**
 * The guessing bound of docs/issuer-api.md ("Guessing"), checked by running
 * the fastest guesser the policy allows against a 3-digit card for 30 days
 * of an injected clock, then the real holder getting back in.
 */
import { expect } from "chai";
import { DerivedKeys } from "../../host-tools/issuer/keys.ts";
import { DEFAULT_POLICY } from "../../host-tools/issuer/policy.ts";
import { Issuer } from "../../host-tools/issuer/service.ts";
import { openStore } from "../../host-tools/issuer/store/open.ts";
import type { Store } from "../../host-tools/issuer/store/types.ts";
import type { VerifyResult } from "../../host-tools/issuer/verify.ts";
import { codeOf, FakeClock, TEST_MASTER_KEY, wrongCode } from "./support.ts";

// The figures docs/issuer-api.md states for the default policy.
const DOC_SINGLE_GUESSES = 5;
const DOC_RESYNC_GUESSES = 731;
const DOC_COUNTER_BOUND = 0.016;
const DOC_TIME_BOUND = 0.015;
const DOC_HOLDER_WAIT_S = 3600;

const DAYS30_MS = 30 * 86400 * 1000;

/**
 * Guesses as fast as the card allows until `untilMs`: a single code whenever
 * verify evaluates one, a resync whenever resync does, else waits for the
 * sooner of the two. Every guess is a code the card would refuse, so the run
 * is deterministic; what it counts is how many guesses got evaluated.
 */
async function guessFor(issuer: Issuer, clock: FakeClock, cardId: string, wrongNow: () => string, untilMs: number) {
  let single = 0;
  let resync = 0;
  const waits: number[] = [];
  while (clock.ms < untilMs) {
    const wrong = wrongNow();
    const v = (await issuer.verify(cardId, wrong, "guesser"))!;
    if (v.reason === "mismatch") {
      single++;
      continue;
    }
    let r: VerifyResult | undefined;
    try {
      r = await issuer.resync(cardId, [wrong, wrong, wrong], "guesser");
    } catch {
      r = undefined; // time-mode cards have no resync
    }
    if (r?.reason === "mismatch") {
      resync++;
      continue;
    }
    const wait = Math.min(v.retryAfter ?? Infinity, r?.retryAfter ?? Infinity);
    if (wait === Infinity) break; // locked, and no resync: nothing more to try, ever
    waits.push(wait);
    clock.advance(wait);
  }
  return { single, resync, waits };
}

describe("issuer guessing bound (default policy, 3-digit codes, 30 days)", function () {
  this.timeout(60_000);
  let store: Store;
  let clock: FakeClock;
  let issuer: Issuer;

  beforeEach(async () => {
    store = await openStore(":memory:");
    clock = new FakeClock();
    issuer = new Issuer({ store, keys: new DerivedKeys(TEST_MASTER_KEY), now: clock.now });
  });
  afterEach(() => store.close());

  it("counter card: at most 5 evaluated single guesses and 731 resyncs, a chance under 1.6%; the holder gets back in within an hour", async () => {
    const { card, package: pkg } = await issuer.createCard({ mode: "counter", digits: 3 }, "bank");
    const start = clock.ms;
    const wrong = wrongCode(pkg, 1000);
    const g = await guessFor(issuer, clock, card.id, () => wrong, start + DAYS30_MS);
    expect(g.single).to.equal(DOC_SINGLE_GUESSES);
    expect(g.resync).to.be.at.most(DOC_RESYNC_GUESSES).and.at.least(DOC_RESYNC_GUESSES - 2);
    // The back-off between single guesses doubles: 2, 4, 8, 16 s (the resync back-off interleaves).
    expect(g.waits.slice(0, 4)).to.deep.equal([2, 4, 8, 16]);

    // Union bound: the first guess may hit any of 11 counters (look-ahead 10), later ones only the
    // expected counter; a resync guess must hit 3 consecutive codes at one of 1000 starts.
    const p1 = (DEFAULT_POLICY.lookAhead + 1) / 1000;
    const pLater = (DEFAULT_POLICY.lookAheadAfterFailure + 1) / 1000;
    const pResync = DEFAULT_POLICY.syncWindow / 1000 ** DEFAULT_POLICY.resyncCodes;
    const bound = 1 - (1 - p1) * (1 - pLater) ** (g.single - 1) + g.resync * pResync;
    expect(bound).to.be.below(DOC_COUNTER_BOUND);

    // The card is locked for single codes; the holder proves possession with 3 consecutive codes
    // after at most the resync back-off the guesser left behind.
    expect((await issuer.getCard(card.id))!.status).to.equal("locked");
    const holderArrives = clock.ms;
    const codes = [0, 1, 2].map((c) => codeOf(pkg, c));
    let r = (await issuer.resync(card.id, codes, "holder"))!;
    if (r.reason === "backoff") {
      expect(r.retryAfter).to.be.at.most(DOC_HOLDER_WAIT_S);
      clock.advance(r.retryAfter!);
      r = (await issuer.resync(card.id, codes, "holder"))!;
    }
    expect(r).to.deep.equal({ ok: true, counter: 2 });
    expect((clock.ms - holderArrives) / 1000).to.be.at.most(DOC_HOLDER_WAIT_S);
    expect(await issuer.verify(card.id, codeOf(pkg, 3), "holder")).to.deep.equal({ ok: true, counter: 3 });
  });

  it("time card: at most 5 evaluated guesses, a chance under 1.5%; the lock holds until the issuer unblocks", async () => {
    const { card, package: pkg } = await issuer.createCard({ mode: "time", digits: 3, step: 300 }, "bank");
    const start = clock.ms;
    // At each guess, a code that is none of the card's codes for the steps the issuer would try then.
    const wrongNow = () => {
      const step = Math.floor(clock.ms / 1000 / 300);
      const near = new Set([step - 1, step, step + 1].map((t) => codeOf(pkg, t)));
      for (let n = 0; ; n++) if (!near.has(String(n).padStart(3, "0"))) return String(n).padStart(3, "0");
    };
    const g = await guessFor(issuer, clock, card.id, wrongNow, start + DAYS30_MS);
    expect(g.single).to.equal(DOC_SINGLE_GUESSES);
    expect(g.resync).to.equal(0);
    const bound = 1 - (1 - (2 * DEFAULT_POLICY.timeSkewSteps + 1) / 1000) ** g.single;
    expect(bound).to.be.below(DOC_TIME_BOUND);

    clock.ms = start + DAYS30_MS;
    expect((await issuer.getCard(card.id))!.status).to.equal("locked");
    await issuer.setBlocked(card.id, false, "bank");
    const step = Math.floor(clock.ms / 1000 / 300);
    expect(await issuer.verify(card.id, codeOf(pkg, step), "holder")).to.deep.include({ ok: true, step });
  });
});
