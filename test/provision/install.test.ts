/**
 * The card's side of issuance (core/card.ts install(), digest(), press(tell)):
 * a staged profile becomes the live one only whole, and a power cut at any
 * flash operation of writing or installing it leaves the old profile or the
 * new one, never neither and never a mix.
 */
import { expect } from "chai";
import { encodeProfile, profileDigest, stagingName } from "../../firmware/core/profile.ts";
import { hotp } from "../../firmware/core/otp.ts";
import { Flash, PowerCut } from "../../sim/board/flash.ts";
import { Storage } from "../../sim/board/storage.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { PROFILE_FILE, provision, rig, testKey, testProfile } from "../support/card-rig.ts";

const sha256 = nodeHash("SHA256");
const STAGED = stagingName(PROFILE_FILE);
const oldProfile = testProfile({ cardId: "OLD", startCounter: 10, algorithm: "SHA1", digits: 6, key: testKey(20) });
const newProfile = testProfile({ cardId: "NEW", startCounter: 0, algorithm: "SHA1", digits: 6, key: testKey(20).reverse() });
const newRecord = encodeProfile(newProfile, sha256);
const hex = (b: Uint8Array | null) => (b ? Buffer.from(b).toString("hex") : "none");
const digestOf = (record: Uint8Array) => hex(record.subarray(record.length - 36, record.length - 4));

describe("issuance on the card: staged profile, install, first code", () => {
  it("installs a staged profile at boot, erases the staging file, and the next press uses it", () => {
    const r = rig();
    provision(r.storage, oldProfile);
    r.storage.write(STAGED, newRecord);
    expect(r.card.staged()).to.equal(true);
    r.card.boot();
    expect(r.card.staged()).to.equal(false);
    expect(hex(r.card.digest())).to.equal(digestOf(newRecord));
    let told = "";
    r.card.press((c) => (told = c));
    expect(told).to.equal(hotp(nodeHash("SHA1"), newProfile.key, 0, 6));
    expect(r.display.last()).to.deep.equal({ kind: "code", code: told, caption: "NEW #0" });
  });

  it("install() from the console replaces the live profile without a restart", () => {
    const r = rig();
    provision(r.storage, oldProfile);
    r.card.boot();
    r.card.press();
    r.storage.write(STAGED, newRecord);
    expect(r.card.install()).to.equal(true);
    r.card.press();
    expect(r.display.last()).to.deep.include({ caption: "NEW #0" });
    expect(r.card.install(), "nothing staged").to.equal(false);
  });

  it("erases a staged record that fails its check, or one already activated, and keeps the live profile", () => {
    for (const cut of [1, 40, newRecord.length - 5]) {
      const r = rig();
      provision(r.storage, oldProfile);
      r.storage.write(STAGED, newRecord.slice(0, cut), 0, newRecord.length); // the rest still erased (FF)
      expect(r.card.install(), `cut at ${cut}`).to.equal(false);
      expect(r.card.staged()).to.equal(false);
      expect(hex(r.card.digest())).to.equal(hex(profileDigest(encodeProfile(oldProfile, sha256), sha256)));
    }
    const r = rig();
    const activated = newRecord.slice();
    activated.fill(0, activated.length - 4);
    r.storage.write(STAGED, activated);
    expect(r.card.install()).to.equal(false);
    expect(r.card.digest()).to.equal(null);
  });

  it("a power cut at any flash operation of staging or installing leaves the old profile or the new one", () => {
    const base = new Flash();
    const storage = new Storage(base);
    storage.write(".bootcde", new Uint8Array(17000).fill(0x20));
    provision(storage, oldProfile);
    const before = rig(base);
    before.card.boot();
    before.card.press(); // the old card has been used: its counter file exists
    const image = base.snapshot();
    const oldDigest = hex(before.card.digest());

    // Count the operations of the whole issuance: write the staged file, then install it.
    const probe = new Flash({ image });
    probe.trace = [];
    new Storage(probe).write(STAGED, newRecord);
    rig(probe).card.install();
    const ops = probe.trace.length;
    expect(ops).to.be.greaterThan(3);

    const seen = { old: 0, new: 0 };
    for (let n = 1; n <= ops; n++) {
      for (const bytes of [undefined, 0, 2]) {
        const f = new Flash({ image });
        f.cutAfterWrites(n, bytes);
        expect(() => {
          new Storage(f).write(STAGED, newRecord);
          rig(f).card.install();
        }).to.throw(PowerCut);
        f.powerUp();
        const after = rig(f);
        after.card.boot();
        const d = hex(after.card.digest());
        expect([oldDigest, digestOf(newRecord)], `cut at op ${n}/${ops} after ${bytes ?? "all"} bytes`).to.include(d);
        expect(after.card.staged()).to.equal(false);
        let told = "";
        after.card.press((c) => (told = c));
        expect(told, `op ${n}: the card makes codes`).to.match(/^\d{6}$/);
        seen[d === oldDigest ? "old" : "new"]++;
      }
    }
    expect(seen.old).to.be.greaterThan(0);
    expect(seen.new).to.be.greaterThan(0);
  });
});
