/** The card-state deltas the audit log carries (store/delta.ts). */
import { expect } from "chai";
import { applyDelta, encodeDelta, type Versioned } from "../../host-tools/issuer/store/delta.ts";

const base: Versioned = {
  version: 3, blocked: false, nextCounter: 12, lastStep: -1, drift: 0, failures: 0, lastFailureAt: 0, resyncFailures: 0, lastResyncFailureAt: 0,
};

/** A seeded generator (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("issuer card-state delta", () => {
  it("writes only what changed, as letters and new values", () => {
    expect(encodeDelta(base, base)).to.equal("");
    expect(encodeDelta(base, { ...base, version: 4, nextCounter: 13 })).to.equal("v4 n13");
    expect(encodeDelta(base, { ...base, version: 4, blocked: true, lastStep: 2 ** 33, drift: -2 })).to.equal("v4 b1 s8589934592 d-2");
    expect(encodeDelta({ ...base, blocked: true }, base)).to.equal("b0");
  });

  it("turns any state into any other, and applying a delta twice changes nothing more", () => {
    const next = rng(1);
    const value = (): number => [0, -1, 1, 7, 2 ** 31, 2 ** 53 - 1, -12][Math.floor(next() * 7)];
    const random = (): Versioned => ({
      version: value(), blocked: next() < 0.5, nextCounter: value(), lastStep: value(), drift: value(), failures: value(),
      lastFailureAt: value(), resyncFailures: value(), lastResyncFailureAt: value(),
    });
    for (let i = 0; i < 2000; i++) {
      const from = random();
      const to = random();
      const delta = encodeDelta(from, to);
      const got = { ...from };
      applyDelta(got, delta);
      expect(got).to.deep.equal(to);
      applyDelta(got, delta);
      expect(got).to.deep.equal(to);
    }
  });

  it("refuses anything it would not have written, naming the token", () => {
    for (const bad of ["x1", "n", "n1.5", "n 1", "b2", "v1  n2", "n99999999999999999", "N1", "n+1", "n1e3", " n1"]) {
      const got = { ...base };
      expect(() => applyDelta(got, bad), bad).to.throw(/corrupt card state in the audit log/);
    }
  });
});
