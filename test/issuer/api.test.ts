/** The HTTP API end to end on each store: vectors, issuance, verification, resync, block, audit. */
import { expect } from "chai";
import { bytesToHex } from "../../firmware/core/bytes.ts";
import { deriveCardKey } from "../../firmware/core/dcvv.ts";
import { hotp, totp } from "../../firmware/core/otp.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { maskPan } from "../../host-tools/issuer/card.ts";
import { IssuerHttpError } from "../../host-tools/issuer/client.ts";
import type { KeySource } from "../../host-tools/issuer/keys.ts";
import { RFC4226, RFC4226_KEY } from "../vectors.ts";
import { codeOf, FakeClock, postgresDb, raw, sqliteDb, startTestIssuer, TEST_MASTER_KEY, wrongCode, type TestDb, type TestIssuer } from "./support.ts";

const RFC4226_CODES = RFC4226.map((v) => v[2]);
/** Test-only key source: every card gets the RFC 4226 key. Reachable only by passing it to startIssuer in code. */
const rfcKeys: KeySource = { cardKey: () => RFC4226_KEY };

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer HTTP API on ${db.kind}`, function () {
    let iss: TestIssuer;
    const clock = new FakeClock();

    before(async function (this: Mocha.Context) {
      iss = await startTestIssuer({ db: await db.create(this), now: clock.now });
    });
    after(async () => {
      await iss?.close();
      await db.cleanup();
    });

    it("verifies the RFC 4226 appendix D codes in order, and refuses each a second time", async function () {
      const rfc = await startTestIssuer({ db: await db.create(this), keys: rfcKeys });
      try {
        const { card, package: pkg } = await rfc.client.createCard({ mode: "counter", digits: 6, algorithm: "SHA1" });
        expect(pkg.key).to.equal(bytesToHex(RFC4226_KEY)); // the RFC's published test key, not a secret
        for (let c = 0; c < RFC4226_CODES.length; c++) {
          expect(await rfc.client.verify(card.id, RFC4226_CODES[c]), `counter ${c}`).to.deep.equal({ ok: true, counter: c });
        }
        expect(await rfc.client.verify(card.id, RFC4226_CODES[9])).to.deep.equal({ ok: false, reason: "replay" });
      } finally {
        await rfc.close();
      }
    });

    it("issues a Luhn-valid card whose key is the documented KDF of the master key and card data, once", async () => {
      for (const algorithm of ["SHA1", "SHA256"] as const) {
        const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 8, algorithm });
        expect(card.pan).to.match(/^424242[0-9]{10}$/);
        expect(pkg).to.have.keys(["cardId", "mode", "digits", "algorithm", "step", "counter", "key"]);
        expect(pkg).to.include({ cardId: card.id, mode: "counter", digits: 8, algorithm, counter: 0 });
        const derived = bytesToHex(deriveCardKey(nodeHash("SHA256"), TEST_MASTER_KEY, card, algorithm));
        expect(pkg.key === derived, "package key = HKDF(master, card data)").to.equal(true);
        // The card's first press shows HOTP(key, counter); the issuer accepts it.
        expect(await iss.client.verify(card.id, codeOf(pkg, 0))).to.deep.equal({ ok: true, counter: 0 });
        // The package is not handed out again.
        const again = await raw(iss.url, "GET", `/v1/cards/${card.id}/package`, { token: iss.token });
        expect(again.status).to.equal(410);
        expect(again.text).to.not.include(pkg.key);
      }
    });

    it("shows a card's status without secrets: masked PAN, no key", async () => {
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter" });
      const got = await raw(iss.url, "GET", `/v1/cards/${card.id}`, { token: iss.token });
      expect(got.status).to.equal(200);
      expect(got.json).to.deep.equal({ ...card, pan: maskPan(card.pan) });
      expect(got.text).to.not.include(pkg.key);
      expect(got.text).to.not.include(card.pan);
      expect(got.json).to.include({ digits: 3, algorithm: "SHA1", step: 300, status: "active", counter: 0, failures: 0 });
    });

    it("counter mode: look-ahead of 10, replays refused, resync with 3 consecutive codes", async () => {
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 6 });
      expect(await iss.client.verify(card.id, codeOf(pkg, 10))).to.deep.equal({ ok: true, counter: 10 });
      expect(await iss.client.verify(card.id, codeOf(pkg, 5))).to.deep.equal({ ok: false, reason: "replay" });
      clock.advance(60);
      // The card ran 500 presses ahead: one code is not enough, three consecutive ones are.
      expect((await iss.client.verify(card.id, codeOf(pkg, 511))).ok).to.equal(false);
      clock.advance(60);
      const codes = [codeOf(pkg, 511), codeOf(pkg, 512), codeOf(pkg, 513)];
      expect(await iss.client.resync(card.id, codes)).to.deep.equal({ ok: true, counter: 513 });
      expect(await iss.client.verify(card.id, codeOf(pkg, 514))).to.deep.equal({ ok: true, counter: 514 });
      expect((await iss.client.getCard(card.id)).counter).to.equal(515);
    });

    it("resync needs the configured number of codes or a strong proof's, on counter and time cards", async () => {
      const { card: cc } = await iss.client.createCard({ mode: "counter" });
      const { card: tc, package: tp } = await iss.client.createCard({ mode: "time", step: 60 });
      for (const codes of ['["111","222"]', '["111","222","333","444"]', '["111","222","333","444","555"]']) {
        const r = await raw(iss.url, "POST", `/v1/cards/${cc.id}/resync`, { token: iss.token, body: `{"codes":${codes}}` });
        expect(r.status).to.equal(400);
        expect(r.json).to.deep.equal({ error: "resync needs exactly 3 consecutive codes, or 6 or more (a strong proof)" });
      }
      const now = Math.floor(clock.ms / 1000 / 60);
      const steps = [now - 2, now - 1, now].map((t) => codeOf(tp, t));
      expect(await iss.client.resync(tc.id, steps)).to.deep.equal({ ok: true, step: now, drift: 0 });
    });

    it("time mode: accepts one step either side, learns drift, never accepts a step twice", async () => {
      const { card, package: pkg } = await iss.client.createCard({ mode: "time", digits: 6, algorithm: "SHA256", step: 60 });
      const key = Buffer.from(pkg.key, "hex");
      const cardNow = (skewSteps: number) => totp(nodeHash("SHA256"), key, clock.ms / 1000 + skewSteps * 60, 60, 6);
      expect(await iss.client.verify(card.id, cardNow(1))).to.deep.include({ ok: true, drift: 1 });
      expect(await iss.client.verify(card.id, cardNow(1))).to.deep.equal({ ok: false, reason: "replay" });
      clock.advance(600);
      // Two steps ahead of the issuer is within one step of the learned drift.
      expect(await iss.client.verify(card.id, cardNow(2))).to.deep.include({ ok: true, drift: 2 });
      clock.advance(600);
      expect((await iss.client.verify(card.id, cardNow(-1))).ok).to.equal(false);
    });

    it("block refuses every code until unblock; unblock also lifts a lock", async () => {
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 6 });
      expect((await iss.client.block(card.id)).status).to.equal("blocked");
      expect(await iss.client.verify(card.id, codeOf(pkg, 0))).to.deep.equal({ ok: false, reason: "blocked" });
      expect(await iss.client.resync(card.id, [0, 1, 2].map((c) => codeOf(pkg, c)))).to.deep.equal({ ok: false, reason: "blocked" });
      expect((await iss.client.unblock(card.id)).status).to.equal("active");
      for (let i = 0; i < 5; i++) {
        await iss.client.verify(card.id, wrongCode(pkg));
        clock.advance(3600);
      }
      expect((await iss.client.getCard(card.id)).status).to.equal("locked");
      expect((await iss.client.unblock(card.id)).status).to.equal("active");
      expect(await iss.client.verify(card.id, codeOf(pkg, 0))).to.deep.equal({ ok: true, counter: 0 });
    });

    it("audits issuance, verifies, resyncs, blocks and unblocks with time, outcome and caller, and no secrets", async () => {
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 10 });
      const good = codeOf(pkg, 0);
      await iss.client.verify(card.id, good);
      await iss.client.verify(card.id, good);
      clock.advance(60);
      await iss.client.resync(card.id, [1, 2, 3].map((c) => codeOf(pkg, c)));
      await iss.client.block(card.id);
      await iss.client.unblock(card.id);
      const entries = await iss.client.audit({ card: card.id });
      expect(entries.map((e) => `${e.event}:${e.outcome}`)).to.deep.equal([
        "unblock:ok", "block:ok", "resync:ok", "verify:replay", "verify:ok", "issue:ok",
      ]);
      const caller = entries[0].caller;
      expect(caller).to.match(/^tok_[0-9a-f]{12}$/);
      for (const e of entries) {
        expect(e.caller).to.equal(caller);
        expect(e.cardId).to.equal(card.id);
        expect(Date.parse(e.at)).to.be.a("number").and.not.NaN;
      }
      const text = JSON.stringify(entries);
      for (const secret of [pkg.key, good, codeOf(pkg, 1), iss.token, card.pan]) {
        expect(text.includes(secret), "audit holds no key, code, token or PAN").to.equal(false);
      }
      // Paging and the unfiltered list.
      const [newest] = await iss.client.audit({ card: card.id, limit: 1 });
      const older = await iss.client.audit({ card: card.id, before: newest.id });
      expect(older.map((e) => e.id)).to.deep.equal(entries.slice(1).map((e) => e.id));
      expect((await iss.client.audit({ limit: 1000 })).length).to.be.greaterThan(entries.length);
    });

    it("answers 404 for unknown cards and routes", async () => {
      const id = "00000000-0000-4000-8000-000000000000";
      for (const [method, path, body] of [
        ["GET", `/v1/cards/${id}`, undefined],
        ["GET", `/v1/cards/${id}/package`, undefined],
        ["POST", `/v1/cards/${id}/verify`, '{"code":"123"}'],
        ["POST", `/v1/cards/${id}/resync`, '{"codes":["123","456","789"]}'],
        ["POST", `/v1/cards/${id}/block`, undefined],
        ["GET", "/v2/cards", undefined],
      ] as const) {
        const r = await raw(iss.url, method, path, { token: iss.token, ...(body ? { body } : {}) });
        expect(r.status, `${method} ${path}`).to.equal(404);
        expect(r.json).to.have.key("error");
      }
      const err = await iss.client.getCard(id).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(IssuerHttpError).and.include({ status: 404 });
    });
  });
}

describe("issuer HTTP API: codes as the card computes them", () => {
  it("a card issued through the API shows, press after press, the codes the issuer accepts", async function () {
    const db = sqliteDb();
    const iss = await startTestIssuer({ db: await db.create(this) });
    try {
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter" });
      const key = Buffer.from(pkg.key, "hex");
      for (let press = 0; press < 20; press++) {
        const shown = hotp(nodeHash(pkg.algorithm), key, pkg.counter + press, pkg.digits);
        expect(await iss.client.verify(card.id, shown)).to.deep.equal({ ok: true, counter: press });
      }
    } finally {
      await iss.close();
      await db.cleanup();
    }
  });
});
