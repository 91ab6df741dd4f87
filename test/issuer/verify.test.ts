/** The verification rules alone (host-tools/issuer/verify.ts): windows, replays, drift, back-off, lock, resync. */
import { expect } from "chai";
import { hotp } from "../../firmware/core/otp.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import type { CardRecord, CardState } from "../../host-tools/issuer/card.ts";
import { makePolicy, DEFAULT_POLICY } from "../../host-tools/issuer/policy.ts";
import { decideResync, decideVerify, type CodeAt } from "../../host-tools/issuer/verify.ts";

const KEY = new Uint8Array(Buffer.from("12345678901234567890", "ascii"));
const codeAt: CodeAt = (c) => hotp(nodeHash("SHA1"), KEY, c, 6);
const policy = makePolicy();
const T0 = Date.UTC(2026, 0, 1);

function card(over: Partial<CardRecord> = {}): CardRecord {
  return {
    id: "c", pan: "4242424242424242", expiry: "3001", psn: "00", mode: "counter", digits: 6, algorithm: "SHA1",
    step: 30, startCounter: 0, createdAt: T0, version: 0, blocked: false, nextCounter: 0, lastStep: -1, drift: 0,
    failures: 0, lastFailureAt: 0, resyncFailures: 0, lastResyncFailureAt: 0, ...over,
  };
}
const apply = (c: CardRecord, s: CardState | undefined) => ({ ...c, ...s });
/** A 6-digit code that is none of the codes for counters 0..2000. */
const WRONG = (() => {
  const used = new Set(Array.from({ length: 2001 }, (_, i) => codeAt(i)));
  for (let n = 0; ; n++) if (!used.has(String(n).padStart(6, "0"))) return String(n).padStart(6, "0");
})();

describe("issuer verify rules: counter mode", () => {
  it("accepts the expected code and each code up to the look-ahead, then moves past it", () => {
    let c = card();
    let d = decideVerify(c, codeAt(0), T0, codeAt, policy);
    expect(d.result).to.deep.equal({ ok: true, counter: 0 });
    c = apply(c, d.state);
    expect(c.nextCounter).to.equal(1);
    d = decideVerify(c, codeAt(1 + DEFAULT_POLICY.lookAhead), T0, codeAt, policy);
    expect(d.result).to.deep.equal({ ok: true, counter: 11 });
    expect(d.state!.nextCounter).to.equal(12);
  });

  it("refuses a code beyond the look-ahead", () => {
    const d = decideVerify(card(), codeAt(DEFAULT_POLICY.lookAhead + 1), T0, codeAt, policy);
    expect(d.result).to.deep.equal({ ok: false, reason: "mismatch" });
    expect(d.state!.failures).to.equal(1);
  });

  it("calls a code at or below the last accepted counter a replay", () => {
    let c = card();
    for (let i = 0; i < 5; i++) c = apply(c, decideVerify(c, codeAt(i), T0, codeAt, policy).state);
    for (const old of [4, 0]) {
      const d = decideVerify(c, codeAt(old), T0, codeAt, makePolicy({ backoffBaseSeconds: 0 }));
      expect(d.result, `counter ${old}`).to.deep.equal({ ok: false, reason: "replay" });
      expect(d.outcome).to.equal("replay");
    }
  });

  it("after a failure accepts only the expected counter until a success", () => {
    const failed = apply(card(), decideVerify(card(), WRONG, T0, codeAt, policy).state);
    const later = T0 + 60_000;
    expect(decideVerify(failed, codeAt(3), later, codeAt, policy).result).to.deep.equal({ ok: false, reason: "mismatch" });
    const ok = decideVerify(failed, codeAt(0), later, codeAt, policy);
    expect(ok.result.ok).to.equal(true);
    expect(ok.state!.failures).to.equal(0);
  });

  it("backs off after each failure, doubling, without evaluating or counting the refused tries", () => {
    let c = card();
    let now = T0;
    for (let f = 1; f < policy.lockAfter; f++) {
      c = apply(c, decideVerify(c, WRONG, now, codeAt, policy).state);
      expect(c.failures).to.equal(f);
      const wait = policy.backoffBaseSeconds * 2 ** (f - 1);
      const early = decideVerify(c, codeAt(0), now + wait * 1000 - 1, codeAt, policy);
      expect(early.result).to.deep.equal({ ok: false, reason: "backoff", retryAfter: 1 });
      expect(early.state).to.equal(undefined);
      now += wait * 1000;
    }
    expect(decideVerify(c, codeAt(0), now, codeAt, policy).result.ok).to.equal(true);
  });

  it("locks after lockAfter failures and then evaluates nothing, not even the right code", () => {
    let c = card();
    let now = T0;
    let last;
    for (let f = 1; f <= policy.lockAfter; f++) {
      last = decideVerify(c, WRONG, now, codeAt, policy);
      c = apply(c, last.state);
      now += 3_600_000;
    }
    expect(last!.result).to.deep.equal({ ok: false, reason: "mismatch", status: "locked" });
    const d = decideVerify(c, codeAt(0), now + 30 * 86_400_000, codeAt, policy);
    expect(d.result).to.deep.equal({ ok: false, reason: "locked" });
    expect(d.state).to.equal(undefined);
  });

  it("the last accepted code again is a replay that changes nothing; an older one is a failure", () => {
    const c = apply(card(), decideVerify(card(), codeAt(0), T0, codeAt, policy).state);
    const again = decideVerify(c, codeAt(0), T0, codeAt, policy);
    expect(again.result).to.deep.equal({ ok: false, reason: "replay" });
    expect(again.state).to.equal(undefined);
    const c2 = apply(c, decideVerify(c, codeAt(1), T0, codeAt, policy).state);
    expect(decideVerify(c2, codeAt(0), T0, codeAt, policy).state!.failures).to.equal(1);
  });

  it("refuses everything on a blocked card", () => {
    const d = decideVerify(card({ blocked: true }), codeAt(0), T0, codeAt, policy);
    expect(d.result).to.deep.equal({ ok: false, reason: "blocked" });
    expect(d.state).to.equal(undefined);
  });
});

describe("issuer verify rules: time mode", () => {
  const step = 30;
  const at = (s: number) => s * step * 1000 + 5000; // 5 s into step s
  const tcard = (over: Partial<CardRecord> = {}) => card({ mode: "time", step, ...over });
  const S = 60_000_000;

  it("accepts the current step and one either side, not two", () => {
    for (const k of [0, -1, 1]) expect(decideVerify(tcard(), codeAt(S + k), at(S), codeAt, policy).result.ok, `step ${k}`).to.equal(true);
    for (const k of [-2, 2]) expect(decideVerify(tcard(), codeAt(S + k), at(S), codeAt, policy).result.ok, `step ${k}`).to.equal(false);
  });

  it("never accepts a step twice, nor a step before the last accepted one", () => {
    const c = apply(tcard(), decideVerify(tcard(), codeAt(S), at(S), codeAt, policy).state);
    const p = makePolicy({ backoffBaseSeconds: 0 });
    expect(decideVerify(c, codeAt(S), at(S), codeAt, p).result).to.deep.equal({ ok: false, reason: "replay" });
    expect(decideVerify(c, codeAt(S - 1), at(S), codeAt, p).result).to.deep.equal({ ok: false, reason: "replay" });
    expect(decideVerify(c, codeAt(S + 1), at(S), codeAt, p).result.ok).to.equal(true);
  });

  it("learns a card's clock drift, so a card that keeps running ahead stays accepted", () => {
    let c = tcard();
    // The card's clock gains one step per verification; each time it is one step ahead of the learned drift.
    for (let gained = 1; gained <= 5; gained++) {
      const d = decideVerify(c, codeAt(S + 10 * gained + gained), at(S + 10 * gained), codeAt, policy);
      expect(d.result, `gained ${gained}`).to.deep.equal({ ok: true, step: S + 11 * gained, drift: gained });
      c = apply(c, d.state);
    }
    // Without the learned drift, a card 5 steps ahead would be refused.
    expect(decideVerify(tcard(), codeAt(S + 105), at(S + 100), codeAt, policy).result.ok).to.equal(false);
  });

  it("clamps the learned drift", () => {
    const p = makePolicy({ maxDriftSteps: 2 });
    const d = decideVerify(tcard({ drift: 2 }), codeAt(S + 3), at(S), codeAt, p);
    expect(d.result).to.deep.equal({ ok: true, step: S + 3, drift: 2 });
  });
});

describe("issuer verify rules: resync", () => {
  const codes = (from: number, n = policy.resyncCodes) => Array.from({ length: n }, (_, i) => codeAt(from + i));

  it("finds N consecutive codes anywhere in the sync window and continues after them", () => {
    const d = decideResync(card({ nextCounter: 100 }), codes(100 + 700), T0, codeAt, policy);
    expect(d.result).to.deep.equal({ ok: true, counter: 802 });
    expect(d.state!.nextCounter).to.equal(803);
  });

  it("refuses codes that are not consecutive, lie beyond the window, or lie before the expected counter", () => {
    const c = card({ nextCounter: 100 });
    const p = makePolicy({ backoffBaseSeconds: 0 });
    const gap = [codeAt(300), codeAt(301), codeAt(303)];
    // (3 codes of 6 digits: an ordinary resync, whose failures count.)
    for (const [what, cs] of [["gap", gap], ["beyond", codes(100 + policy.syncWindow - 2)], ["before", codes(97)]] as const) {
      const d = decideResync(c, [...cs], T0, codeAt, p);
      expect(d.result, what).to.deep.equal({ ok: false, reason: "mismatch" });
      expect(d.state!.resyncFailures, what).to.equal(1);
    }
    // The last start that still fits is accepted.
    expect(decideResync(c, codes(100 + policy.syncWindow - 3), T0, codeAt, p).result.ok).to.equal(true);
  });

  it("lifts a lock (it proves possession of the card) but not a block", () => {
    const locked = card({ failures: policy.lockAfter, lastFailureAt: T0 });
    const d = decideResync(locked, codes(40), T0, codeAt, policy);
    expect(d.result.ok).to.equal(true);
    expect(d.state!.failures).to.equal(0);
    expect(decideResync(card({ blocked: true }), codes(0), T0, codeAt, policy).result).to.deep.equal({ ok: false, reason: "blocked" });
  });

  it("backs off failed resyncs, doubling up to the cap", () => {
    let c = card();
    let now = T0;
    const waits: number[] = [];
    for (let i = 0; i < 14; i++) {
      c = apply(c, decideResync(c, [WRONG, WRONG, WRONG], now, codeAt, policy).state);
      const r = decideResync(c, codes(0), now + 1, codeAt, policy).result;
      waits.push(r.retryAfter!);
      now += r.retryAfter! * 1000;
    }
    expect(waits.slice(0, 4)).to.deep.equal([2, 4, 8, 16]);
    expect(Math.max(...waits)).to.equal(policy.resyncBackoffMaxSeconds);
    expect(decideResync(c, codes(0), now, codeAt, policy).result.ok).to.equal(true);
  });

  it("a strong proof (4 codes of 6 digits) is evaluated during the back-off and a lock, and its failure changes nothing", () => {
    const held = card({ failures: policy.lockAfter, lastFailureAt: T0, resyncFailures: 12, lastResyncFailureAt: T0 });
    expect(decideResync(held, codes(0), T0 + 1, codeAt, policy).result).to.deep.include({ reason: "backoff", strongCodes: 4 });
    const wrong = decideResync(held, [WRONG, WRONG, WRONG, WRONG], T0 + 1, codeAt, policy);
    expect(wrong.result).to.deep.equal({ ok: false, reason: "mismatch" });
    expect(wrong.state).to.equal(undefined);
    const right = decideResync(held, codes(7, 4), T0 + 1, codeAt, policy);
    expect(right.result).to.deep.equal({ ok: true, counter: 10 });
    expect(right.state).to.include({ nextCounter: 11, failures: 0, resyncFailures: 0 });
  });

  it("time cards: the codes of consecutive steps, the last one now (within the skew), after the last accepted step", () => {
    const now = Math.floor(T0 / 1000 / 30);
    const steps = (last: number, n = 3) => Array.from({ length: n }, (_, i) => codeAt(last - n + 1 + i));
    const t = card({ mode: "time", failures: policy.lockAfter, lastFailureAt: T0 });
    const d = decideResync(t, steps(now + 1), T0, codeAt, policy);
    expect(d.result).to.deep.equal({ ok: true, step: now + 1, drift: 1 });
    expect(d.state).to.include({ lastStep: now + 1, drift: 1, failures: 0 });
    expect(decideResync(t, steps(now - 2), T0, codeAt, makePolicy({ backoffBaseSeconds: 0 })).result.ok, "too old").to.equal(false);
    expect(decideResync({ ...t, lastStep: now }, steps(now), T0, codeAt, policy).result.ok, "already accepted").to.equal(false);
  });
});

describe("issuer policy settings", () => {
  it("refuses unknown names and out-of-range values", () => {
    expect(() => makePolicy({ lookAhead: -1 })).to.throw(/lookAhead/);
    expect(() => makePolicy({ resyncCodes: 1.5 })).to.throw(/resyncCodes/);
    expect(() => makePolicy({ nope: 1 } as never)).to.throw(/unknown policy setting/);
    expect(() => makePolicy({ lookAhead: 2, lookAheadAfterFailure: 3 })).to.throw(/must not exceed/);
    expect(makePolicy({ lookAhead: undefined }).lookAhead).to.equal(DEFAULT_POLICY.lookAhead);
  });
});
