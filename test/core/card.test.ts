import { expect } from "chai";
import { createHash } from "node:crypto";
import * as OTPAuth from "otpauth";
import type { PartsHash } from "../../firmware/core/hmac.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { decodeProfile, encodeProfile } from "../../firmware/core/profile.ts";
import type { Profile } from "../../firmware/core/profile.ts";
import { Card } from "../../firmware/core/card.ts";
import { DEFAULT_STEPS, MonotonicCounter } from "../../firmware/core/counter.ts";
import { Flash } from "../../sim/board/flash.ts";
import { indexedAsBytes } from "../../sim/board/libs.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import {
  COUNTER_PREFIX,
  PROFILE_FILE,
  WIPE_MS,
  boardHashes,
  provision,
  rig,
  testKey,
  testProfile,
} from "../support/card-rig.ts";

const sha256 = nodeHash("SHA256");

function secret(p: Profile) {
  return OTPAuth.Secret.fromHex(Buffer.from(p.key).toString("hex"));
}

/** Independent reference: the otpauth package. */
function hotpRef(p: Profile, counter: number): string {
  return OTPAuth.HOTP.generate({ secret: secret(p), algorithm: p.algorithm.replace("SHA", "SHA-"), digits: p.digits, counter });
}

function totpRef(p: Profile, seconds: number): string {
  return OTPAuth.TOTP.generate({
    secret: secret(p),
    algorithm: p.algorithm.replace("SHA", "SHA-"),
    digits: p.digits,
    period: p.stepSeconds,
    timestamp: seconds * 1000,
  });
}

describe("card", () => {
  it("with no profile shows 'not issued' at boot and at every press, and writes nothing", () => {
    const r = rig();
    r.card.boot();
    for (let i = 0; i < 3; i++) expect(r.card.press()).to.equal(0);
    r.card.longPress();
    r.card.wipe();
    expect(r.display.shown.map((s) => s.kind)).to.deep.equal(["notIssued", "notIssued", "notIssued", "notIssued"]);
    expect(r.flash.stats().writes).to.equal(0);
  });

  it("with a profile damaged at any byte never shows a code", () => {
    const good = encodeProfile(testProfile(), sha256);
    for (let i = 0; i < good.length - 4; i++) {
      const r = rig();
      const bad = good.slice();
      bad[i] ^= 0x10;
      r.storage.write(PROFILE_FILE, bad);
      r.card.boot();
      expect(r.card.press()).to.equal(0);
      expect(r.display.codes(), `byte ${i}`).to.deep.equal([]);
      expect(r.display.last()).to.deep.equal({ kind: "notIssued" });
      expect(r.storage.list(/ctr/)).to.deep.equal([]); // no counter was set up
    }
  });

  it("counter mode: the first press shows HOTP(c0), each later press the next counter", () => {
    for (const algorithm of ["SHA1", "SHA256", "SHA512"] as const) {
      const p = testProfile({ algorithm, digits: 6, startCounter: 2 ** 32 - 2, key: testKey(algorithm === "SHA512" ? 64 : 20) });
      const r = rig();
      provision(r.storage, p);
      r.card.boot();
      expect(r.display.shown).to.deep.equal([{ kind: "wipe" }]); // boot clears the panel
      for (let k = 0; k < 5; k++) {
        expect(r.card.press()).to.equal(WIPE_MS);
        const c = p.startCounter + k;
        expect(r.display.last()).to.deep.equal({ kind: "code", code: hotpRef(p, c), caption: `${p.cardId} #${c}` });
      }
    }
  });

  it("commits the counter before the code is computed", () => {
    const p = testProfile({ algorithm: "SHA1", key: testKey(20) });
    /** The counter a card booted from a copy of this flash would show next. */
    const resumesAt = (flash: Flash) => {
      const copy = rig(new Flash({ image: flash.snapshot() }));
      const bind = decodeProfile(copy.store.read(PROFILE_FILE), sha256)!.fingerprint;
      const c = new MonotonicCounter(copy.store, COUNTER_PREFIX, bind, DEFAULT_STEPS);
      expect(c.load()).to.equal(true);
      return c.current();
    };
    let pressing = p.startCounter;
    let checks = 0;
    const r = rig(undefined, {
      hashes: (name) => {
        const h = nodeHash(name);
        if (name !== "SHA1") return h;
        // While HMAC-SHA1 runs, the counter of this press is already in flash.
        return { ...h, digest: (data: Uint8Array) => (checks++, expect(resumesAt(r.flash)).to.equal(pressing + 1), h.digest(data)) };
      },
    });
    provision(r.storage, p);
    r.card.boot();
    for (let i = 0; i < 3; i++, pressing++) r.card.press();
    expect(checks).to.equal(6); // two digests per HMAC
    expect(r.display.codes().map((c) => c.code)).to.deep.equal([0, 1, 2].map((k) => hotpRef(p, p.startCounter + k)));
  });

  it("continues the counter across restarts", () => {
    const p = testProfile({ startCounter: 0 });
    const flash = rig().flash;
    provision(rig(flash).storage, p);
    const seen: string[] = [];
    for (let boot = 0; boot < 4; boot++) {
      const r = rig(flash);
      r.card.boot();
      for (let i = 0; i < 3; i++) r.card.press();
      seen.push(...r.display.codes().map((c) => c.caption));
    }
    expect(seen).to.deep.equal(Array.from({ length: 12 }, (_, i) => `${p.cardId} #${i}`));
  });

  it("time mode: shows TOTP of the clock and writes nothing", () => {
    for (const algorithm of ["SHA1", "SHA256", "SHA512"] as const) {
      const p = testProfile({ mode: "time", algorithm, digits: 8, stepSeconds: 30, key: testKey(algorithm === "SHA1" ? 20 : 32) });
      const r = rig();
      provision(r.storage, p);
      const writes = r.flash.stats().writes;
      r.card.boot();
      for (const t of [59, 1_111_111_109, 2_000_000_000, 20_000_000_000, 1_750_000_123.75]) {
        r.now.t = t;
        expect(r.card.press()).to.equal(WIPE_MS);
        expect(r.display.last()).to.deep.equal({ kind: "code", code: totpRef(p, Math.floor(t)), caption: p.cardId });
      }
      expect(r.flash.stats().writes).to.equal(writes);
    }
  });

  it("a long press makes no code, draws nothing and writes nothing", () => {
    const r = rig();
    provision(r.storage, testProfile());
    r.card.boot();
    const shown = r.display.shown.length;
    const writes = r.flash.stats().writes;
    for (let i = 0; i < 5; i++) r.card.longPress();
    expect(r.display.shown.length).to.equal(shown);
    expect(r.flash.stats().writes).to.equal(writes);
  });

  it("wipes only a code that is shown", () => {
    const r = rig();
    provision(r.storage, testProfile());
    r.card.boot();
    r.card.wipe();
    expect(r.display.shown).to.deep.equal([{ kind: "wipe" }]);
    r.card.press();
    r.card.wipe();
    r.card.wipe();
    expect(r.display.shown.map((s) => s.kind)).to.deep.equal(["wipe", "code", "wipe"]);
  });

  it("a new card sharing the state wipes the code the last one showed, and goes on counting", () => {
    const state = { showing: false };
    const r = rig(undefined, { state });
    const p = testProfile();
    provision(r.storage, p);
    r.card.boot();
    r.card.press();
    expect(state.showing).to.equal(true);
    // main.ts builds a card per event, over the same flash and panel
    const another = (shared: { showing: boolean }) =>
      new Card({ store: r.store, hashes: boardHashes(), clock: () => r.now.t, display: r.display, profileFile: PROFILE_FILE, counterPrefix: COUNTER_PREFIX, wipeAfterMs: WIPE_MS, state: shared });
    const next = another(state);
    next.wipe();
    next.wipe();
    next.press();
    expect(r.display.shown.map((s) => s.kind)).to.deep.equal(["wipe", "code", "wipe", "code"]);
    expect(r.display.codes().map((c) => c.code)).to.deep.equal([hotpRef(p, p.startCounter), hotpRef(p, p.startCounter + 1)]);
    another({ showing: false }).wipe(); // a card with a state of its own has nothing to wipe
    expect(r.display.shown).to.have.length(4);
  });

  it("shows 'not issued' when the profile is damaged after boot", () => {
    const r = rig();
    const bytes = provision(r.storage, testProfile());
    r.card.boot();
    r.card.press();
    const damaged = bytes.slice();
    damaged[30] ^= 1;
    r.storage.write(PROFILE_FILE, damaged);
    expect(r.card.press()).to.equal(0);
    expect(r.display.last()).to.deep.equal({ kind: "notIssued" });
    expect(r.display.codes()).to.have.length(1);
  });

  it("picks up a profile issued again since boot, starting its own counter", () => {
    const r = rig();
    provision(r.storage, testProfile({ startCounter: 500 }));
    r.card.boot();
    r.card.press();
    r.card.press();
    const p2 = testProfile({ startCounter: 7, key: testKey(20).reverse(), algorithm: "SHA1", digits: 6 });
    provision(r.storage, p2);
    r.card.press();
    expect(r.display.last()).to.deep.equal({ kind: "code", code: hotpRef(p2, 7), caption: `${p2.cardId} #7` });
    expect(r.storage.list(new RegExp(COUNTER_PREFIX.replace(".", "\\.")))).to.have.length(1);
  });

  it("fails closed when an activated profile has lost its counter", () => {
    const r = rig();
    provision(r.storage, testProfile());
    r.card.boot();
    r.card.press();
    expect(decodeProfile(r.storage.readBytes(PROFILE_FILE), sha256)!.activated).to.equal(true);
    for (const name of r.storage.list(/ctr/)) r.storage.erase(name);
    const again = rig(r.flash);
    again.card.boot();
    expect(again.card.press()).to.equal(0);
    expect(again.display.codes()).to.deep.equal([]);
    expect(again.display.shown.every((s) => s.kind === "notIssued")).to.equal(true);
  });

  it("shows 'not issued' for an algorithm the board lacks, and without SHA-256", () => {
    const a = rig(undefined, { hashes: boardHashes(["SHA1", "SHA256"]) });
    provision(a.storage, testProfile({ algorithm: "SHA512", key: testKey(64) }));
    a.card.boot();
    a.card.press();
    expect(a.display.codes()).to.deep.equal([]);

    const b = rig(undefined, { hashes: boardHashes(["SHA1"]) });
    provision(b.storage, testProfile({ algorithm: "SHA1" }));
    b.card.boot();
    b.card.press();
    expect(b.display.codes()).to.deep.equal([]);
  });

  it("boot shows 'not issued' and rethrows when flash fails", () => {
    const r = rig();
    provision(r.storage, testProfile());
    r.flash.cutAfterWrites(1);
    expect(() => r.card.boot()).to.throw(/power cut/);
    expect(r.display.shown).to.deep.equal([{ kind: "notIssued" }]);
  });

  it("makes its codes from the pads in the profile, handing them to a parts hash in place", () => {
    // As hal/crypto.ts on the card: digestParts hashes a list of parts as if joined.
    const calls: Array<{ alg: HashName; lengths: number[] }> = [];
    const withParts = (name: HashName): PartsHash | undefined => {
      const h = boardHashes()(name);
      if (!h) return undefined;
      return {
        ...h,
        digestParts: (parts) => {
          calls.push({ alg: name, lengths: parts.map((x) => x.byteLength) });
          const c = createHash(name.toLowerCase());
          for (const x of parts) c.update(x instanceof Uint8Array ? x : new Uint8Array(x));
          return indexedAsBytes(Uint8Array.from(c.digest()).buffer) as unknown as Uint8Array; // as Espruino's crypto gives
        },
      };
    };
    for (const algorithm of ["SHA1", "SHA256", "SHA512"] as const) {
      for (const mode of ["counter", "time"] as const) {
        const p = testProfile({ mode, algorithm, digits: 7, stepSeconds: 60, startCounter: 2 ** 32 - 1, key: testKey(algorithm === "SHA512" ? 64 : 20) });
        const r = rig(undefined, { hashes: withParts });
        provision(r.storage, p);
        r.card.boot();
        calls.length = 0;
        for (let k = 0; k < 3; k++) {
          r.now.t = 1_750_000_000 + 3600 * k;
          r.card.press();
          const want = mode === "counter" ? hotpRef(p, p.startCounter + k) : totpRef(p, r.now.t);
          expect(r.display.last(), `${algorithm} ${mode} ${k}`).to.deep.include({ kind: "code", code: want });
        }
        const B = algorithm === "SHA512" ? 128 : 64;
        const L = { SHA1: 20, SHA256: 32, SHA512: 64 }[algorithm];
        // Per code: the inner pad and the 8-byte counter, then the outer pad and the inner digest; nothing else.
        expect(calls).to.deep.equal([0, 1, 2].flatMap(() => [{ alg: algorithm, lengths: [B, 8] }, { alg: algorithm, lengths: [B, L] }]));
      }
    }
  });

  it("shows 'not issued' for a version 1 profile (the key itself in the record)", () => {
    const p = testProfile({ algorithm: "SHA1", key: testKey(20), cardId: "OLD" });
    // Version 1's layout, written out: header, id, key, zero padding, digest, activation word.
    const r0 = Math.ceil((22 + 3 + 20) / 4) * 4;
    const v1 = new Uint8Array(r0 + 36);
    v1.set([0x49, 0x4e, 0x4b, 0x50, 1, 0, 1, 10, 0, 0, 1, 44, 0, 0, 0, 0, 0, 0, 3, 232, 3, 20]);
    v1.set(Buffer.from("OLD"), 22);
    v1.set(p.key, 25);
    v1.set(sha256.digest(v1.subarray(0, r0)), r0);
    v1.fill(0xff, r0 + 32);
    const r = rig();
    r.storage.write(PROFILE_FILE, v1);
    r.card.boot();
    expect(r.card.press()).to.equal(0);
    expect(r.display.shown.map((x) => x.kind)).to.deep.equal(["notIssued", "notIssued"]);
    expect(r.card.digest()).to.equal(null);
    expect(r.storage.list(/ctr/)).to.deep.equal([]);
  });

  it("checks its options", () => {
    const r = rig();
    const o = {
      store: r.store,
      hashes: boardHashes(),
      clock: () => 0,
      display: r.display,
      profileFile: PROFILE_FILE,
      counterPrefix: COUNTER_PREFIX,
      wipeAfterMs: WIPE_MS,
    };
    expect(() => new Card(o)).to.not.throw();
    expect(() => new Card({ ...o, wipeAfterMs: 0 })).to.throw(/wipeAfterMs/);
    expect(() => new Card({ ...o, clock: undefined as never })).to.throw(/needs/);
    expect(() => new Card(undefined as never)).to.throw(/needs/);
  });
});
