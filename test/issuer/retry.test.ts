/**
 * Issue 10, item 6 (the issuer's part): a retried verify whose answer was
 * lost is no failure, and with an Idempotency-Key gets the original answer
 * without becoming a replay hole; a confirm answered 409 changes nothing;
 * refusals that change nothing are audited within a per-caller budget.
 */
import { expect } from "chai";
import { statSync } from "node:fs";
import { join } from "node:path";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import type { Begun } from "../../host-tools/issuance/protocol.ts";
import { codeOf, FakeClock, raw, startTestIssuer, tempDir, wrongCode, type TestIssuer } from "./support.ts";

describe("issuer retries, confirm refusals and the audit budget", function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let iss: TestIssuer;
  let clock: FakeClock;

  beforeEach(async () => {
    tmp = tempDir();
    clock = new FakeClock();
    iss = await startTestIssuer({ db: join(tmp.dir, "i.sqlite"), now: clock.now });
  });
  afterEach(async () => {
    await iss.close();
    tmp.cleanup();
  });

  it("a retry of the accepted code without a key is refused as a replay but is no failure", async () => {
    const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 6 });
    expect(await iss.client.verify(card.id, codeOf(pkg, 0))).to.deep.equal({ ok: true, counter: 0 });
    expect(await iss.client.verify(card.id, codeOf(pkg, 0))).to.deep.equal({ ok: false, reason: "replay" });
    expect((await iss.client.getCard(card.id)).failures).to.equal(0);
    // The look-ahead stays open (no failure on record): a card that ran ahead is still accepted.
    expect(await iss.client.verify(card.id, codeOf(pkg, 5))).to.deep.equal({ ok: true, counter: 5 });
    // An older code is a replay that counts, as before.
    expect(await iss.client.verify(card.id, codeOf(pkg, 0))).to.deep.equal({ ok: false, reason: "replay" });
    expect((await iss.client.getCard(card.id)).failures).to.equal(1);
  });

  it("time cards: the last accepted step again is no failure", async () => {
    const { card, package: pkg } = await iss.client.createCard({ mode: "time", digits: 6, step: 30 });
    const step = Math.floor(clock.ms / 1000 / 30);
    expect((await iss.client.verify(card.id, codeOf(pkg, step))).ok).to.equal(true);
    expect(await iss.client.verify(card.id, codeOf(pkg, step))).to.deep.equal({ ok: false, reason: "replay" });
    expect((await iss.client.getCard(card.id)).failures).to.equal(0);
  });

  it("with an Idempotency-Key the retry gets the original answer, and nothing else does", async () => {
    const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 6 });
    const shop2 = new IssuerClient(iss.url, await iss.createToken("shop 2", "verify"));
    const code = codeOf(pkg, 0);
    expect(await iss.client.verify(card.id, code, "pay-1")).to.deep.equal({ ok: true, counter: 0 });
    expect(await iss.client.verify(card.id, code, "pay-1"), "the retry").to.deep.equal({ ok: true, counter: 0 });
    expect(await iss.client.verify(card.id, code, "pay-2"), "another payment").to.deep.equal({ ok: false, reason: "replay" });
    expect(await iss.client.verify(card.id, code), "no key").to.deep.equal({ ok: false, reason: "replay" });
    expect(await shop2.verify(card.id, code, "pay-1"), "another caller, same key").to.deep.equal({ ok: false, reason: "replay" });
    expect(await iss.client.verify(card.id, code, "pay-1"), "still the retry").to.deep.equal({ ok: true, counter: 0 });
    expect((await iss.client.getCard(card.id)).counter).to.equal(1);
    // Too late, or after the card moved on: a replay.
    clock.advance(61);
    expect(await iss.client.verify(card.id, code, "pay-1")).to.deep.equal({ ok: false, reason: "replay" });
    expect(await iss.client.verify(card.id, codeOf(pkg, 1), "pay-3")).to.deep.equal({ ok: true, counter: 1 });
    expect(await iss.client.verify(card.id, codeOf(pkg, 2), "pay-4")).to.deep.equal({ ok: true, counter: 2 });
    expect(await iss.client.verify(card.id, codeOf(pkg, 1), "pay-3")).to.deep.include({ ok: false, reason: "replay" });
    const bad = await raw(iss.url, "POST", `/v1/cards/${card.id}/verify`, { token: iss.token, body: `{"code":"${code}"}`, headers: { "idempotency-key": "é" } });
    expect(bad.status).to.equal(400);
  });

  it("a confirm answered 409 records no failure and no audit entry", async () => {
    const body = JSON.stringify({ chipSerial: "chip-retry-1", firmware: "1.0.0", mode: "counter", digits: 6 });
    const begun = (await raw(iss.url, "POST", "/v1/issuance", { token: iss.token, body })).json as Begun;
    const trail = async () => (await iss.client.audit({ card: begun.card.id })).length;
    const before = await trail();
    const card = await iss.issuer.store.getCard(begun.card.id);
    for (let i = 0; i < 3; i++) {
      const r = await raw(iss.url, "POST", `/v1/issuance/${begun.card.id}/confirm`, {
        token: iss.token,
        body: JSON.stringify({ digest: begun.digest, code: wrongCode(begun.package) }),
      });
      expect(r.status).to.equal(409);
    }
    expect(await trail()).to.equal(before);
    expect(await iss.issuer.store.getCard(begun.card.id)).to.deep.equal(card);
    const ok = await raw(iss.url, "POST", `/v1/issuance/${begun.card.id}/confirm`, { token: iss.token, body: JSON.stringify({ digest: begun.digest, code: codeOf(begun.package, 0) }) });
    expect(ok.status).to.equal(200);
  });

  it("refusals that change nothing are audited within a per-caller budget, and say how many were not", async () => {
    const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 6 });
    await iss.client.block(card.id);
    const hammer = new IssuerClient(iss.url, await iss.createToken("hammer", "verify"));
    const file = join(tmp.dir, "i.sqlite-wal");
    const sizeBefore = statSync(file).size;
    for (let i = 0; i < 2000; i++) expect((await hammer.verify(card.id, codeOf(pkg, 0))).reason).to.equal("blocked");
    const entries = (await iss.client.audit({ card: card.id, limit: 1000 })).filter((e) => e.outcome === "blocked");
    expect(entries.length).to.equal(60);
    // The budget refills, one entry a second; the next entry tells what was left out.
    clock.advance(5);
    await hammer.verify(card.id, codeOf(pkg, 0));
    const [newest] = await iss.client.audit({ card: card.id, limit: 1 });
    expect(newest.detail).to.equal("1940 more like it not audited");
    // Another caller has a budget of its own.
    await iss.client.verify(card.id, codeOf(pkg, 0));
    expect((await iss.client.audit({ card: card.id, limit: 1 }))[0].caller).to.not.equal(newest.caller);
    // Each request alone is a commit of its own, which writes at least one 4 KB page to the WAL: 2,000
    // audited refusals grew it by 8 MB before the budget; now about 60 commits' worth.
    expect(statSync(file).size - sizeBefore).to.be.below(500_000);
  });
});
