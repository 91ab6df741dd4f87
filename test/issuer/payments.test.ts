/**
 * The issuer's part of dynamic data (issue 11; docs/issuer-api.md,
 * "Dynamic data"): pairings, sealed payments and their confirmation, on
 * each store. What the issuer hands out is opened with the card's own core
 * code (inbox.receive, readGrant, decodePayment) and checked against
 * independent computations on node:crypto (HKDF, the AEAD's reference, the
 * OCRA answer of RFC 6287 written out here).
 */
import { expect } from "chai";
import { createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { etmAead } from "../../firmware/core/aead.ts";
import { refOpen } from "../core/etm-reference.ts";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import { E_OLD_SEQ, encodeFrame, newFrame, OK, readFrame, sealFrame, T_GRANT, T_PAIR, T_PAYMENT, T_PAYMENT_DATA } from "../../firmware/core/frames.ts";
import { newReceived, receive, type Link } from "../../firmware/core/inbox.ts";
import { deriveCardId, derivePairKey, deriveSealKey, readGrant, type Grant } from "../../firmware/core/pairing.ts";
import { decodePayment, newPaymentView, type PaymentView } from "../../firmware/core/payment.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { IssuerClient, IssuerHttpError } from "../../host-tools/issuer/client.ts";
import type { CreatedPayment, Pairing } from "../../host-tools/issuer/payments.ts";
import type { Role } from "../../host-tools/issuer/store/types.ts";
import { FakeClock, postgresDb, raw, sqliteDb, startTestIssuer, type TestDb, type TestIssuer } from "./support.ts";

const sha256 = nodeHash("SHA256");
const aead = etmAead(sha256);
const SALT = "inkcard/link/v1";
const ROLES: Role[] = ["verify", "issue", "admin"];
const PAY = { amount: 12345, currency: "EUR", exponent: 2, payee: "Café du Parc", details: "Table 4, 2 covers" };

/** HKDF-SHA256 of the card key (node:crypto), as docs/dynamic-data.md "Keys" defines each key. */
/** IKM = K0: the card key zero-padded to 64 bytes, as HMAC pads it. */
const hkdf = (key: Uint8Array, info: Buffer, n: number) => Buffer.from(hkdfSync("sha256", Buffer.concat([key, Buffer.alloc(64 - key.length)]), SALT, info, n));

/** The OCRA answer (RFC 6287) for suite OCRA-1:HOTP-SHA256-8:QH64, written from the RFC and the docs, on node:crypto only. */
function independentAnswer(cardKey: Uint8Array, v: PaymentView): string {
  const amount = Buffer.alloc(6);
  amount.writeUIntBE(v.amount, 0, 6);
  const q = createHash("sha256")
    .update(Buffer.concat([
      Buffer.from("inkcard/answer/v1\0"), Buffer.from(v.txId), amount, Buffer.from(v.currency, "ascii"), Buffer.from([v.exponent]),
      Buffer.from([v.payee.length]), Buffer.from(v.payee), Buffer.from([v.details.length]), Buffer.from(v.details),
    ]))
    .digest();
  const question = Buffer.alloc(128); // the 32 bytes of the 64 hex digits, then zeros (RFC 6287 5.1)
  q.copy(question);
  const suite = "OCRA-1:HOTP-SHA256-8:QH64";
  const mac = createHmac("sha256", hkdf(cardKey, Buffer.from("answer"), 32))
    .update(Buffer.concat([Buffer.from(suite), Buffer.from([0]), question]))
    .digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1e8).padStart(8, "0");
}

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer dynamic data on ${db.kind}`, function () {
    this.timeout(120_000);
    const clock = new FakeClock();
    let dbUrl: string;
    let iss: TestIssuer;
    const tokens = {} as Record<Role, string>;
    const as = (r: Role) => new IssuerClient(iss.url, tokens[r]);
    const nowS = () => clock.ms / 1000;

    before(async function (this: Mocha.Context) {
      dbUrl = await db.create(this);
      iss = await startTestIssuer({ db: dbUrl, now: clock.now });
      for (const r of ROLES) tokens[r] = await iss.createToken(`${r} test`, r);
    });
    after(async () => {
      await iss?.close();
      await db.cleanup();
    });

    /** A card, its key, and the card's side of the link (no phone bound yet). */
    async function newCard() {
      const { card, package: pkg } = await as("issue").createCard({ mode: "counter" });
      const key = hexToBytes(pkg.key);
      const link: Link = { cardId: deriveCardId(sha256, key), seal: deriveSealKey(sha256, key), pair: null, lastSeq: 0, lastIssuerSeq: 0 };
      return { id: card.id, key, link };
    }

    /** The pairing epoch each card side (its Link) has taken. */
    const epochs = new WeakMap<Link, number>();

    /** The card takes the grant as a PAIR frame would bring it: OK, and link then holds the phone's key. */
    function cardPairs(link: Link, key: Uint8Array, p: Pairing): number {
      const frame = encodeFrame({ type: T_PAIR, cardId: link.cardId, seq: 0, expiry: Math.floor(nowS()) + 60 }, hexToBytes(p.grant));
      const out = newReceived();
      const code = receive(aead, link, frame, nowS(), out);
      if (code !== OK) return code;
      const g: Grant = { deviceId: new Uint8Array(0), epoch: 0 };
      const gc = readGrant(out.body, epochs.get(link) ?? 0, g);
      if (gc !== OK) return gc;
      epochs.set(link, g.epoch);
      link.pair = derivePairKey(sha256, key, g.deviceId, g.epoch);
      link.lastSeq = 0;
      link.lastIssuerSeq = out.issuerSeq;
      return OK;
    }

    /** The phone wraps the envelope (seq = its next) and the card opens both layers; the payment as the card decodes it. */
    function cardReceives(link: Link, pairKey: string, env: string, seq: number): { code: number; view: PaymentView; issuerSeq: number } {
      const envelope = hexToBytes(env);
      const h = newFrame();
      expect(readFrame(envelope, h)).to.equal(OK);
      const frame = sealFrame(aead, hexToBytes(pairKey), { type: T_PAYMENT, cardId: link.cardId, seq, expiry: h.expiry }, envelope);
      const out = newReceived();
      const view = newPaymentView();
      let code = receive(aead, link, frame, nowS(), out);
      if (code === OK) code = decodePayment(out.body, view);
      if (code === OK) {
        link.lastSeq = out.seq;
        link.lastIssuerSeq = out.issuerSeq;
      }
      return { code, view, issuerSeq: out.issuerSeq };
    }

    async function pairedCard() {
      const c = await newCard();
      const deviceId = randomBytes(16).toString("hex");
      const p = await as("issue").createPairing(c.id, deviceId);
      expect(cardPairs(c.link, c.key, p)).to.equal(OK);
      return { ...c, deviceId, pairing: p, phoneSeq: 0 };
    }

    it("pairs: the grant opens with the card's code, and the card derives the phone's K_pair from it", async () => {
      const c = await newCard();
      const deviceId = randomBytes(16).toString("hex");
      const p = await as("issue").createPairing(c.id, deviceId);
      expect(Object.keys(p).sort()).to.deep.equal(["epoch", "expiry", "grant", "linkId", "pairKey"]);
      expect(p.epoch).to.equal(1);
      // The card id and K_pair, computed on node:crypto from the docs' table.
      const id = hkdf(c.key, Buffer.from("card-id"), 4).readUInt32BE(0) || 1;
      expect(p.linkId).to.equal(id.toString(16).padStart(8, "0"));
      const info = Buffer.concat([Buffer.from("pair"), Buffer.from(deviceId, "hex"), Buffer.from([0, 0, 0, 1])]);
      expect(p.pairKey).to.equal(hkdf(c.key, info, 32).toString("hex"));
      // The grant opened by the AEAD's reference (node:crypto) under K_seal: device id || epoch.
      const g = Buffer.from(p.grant, "hex");
      expect(g[1]).to.equal(T_GRANT);
      expect(g.readUInt32BE(2)).to.equal(id);
      const nonce = Buffer.alloc(12);
      nonce[0] = T_GRANT;
      g.copy(nonce, 8, 6, 10);
      const opened = refOpen(hkdf(c.key, Buffer.from("seal"), 32), nonce, g.subarray(0, 14), g.subarray(14));
      expect(Buffer.from(opened!).toString("hex")).to.equal(deviceId + "00000001");
      // The card's side: PAIR opens, the grant reads, and its K_pair is the phone's.
      expect(cardPairs(c.link, c.key, p)).to.equal(OK);
      expect(Buffer.from(c.link.pair!).toString("hex")).to.equal(p.pairKey);
      // The next pairing takes the next epoch and a later seq; the card then refuses the first grant again.
      const p2 = await as("admin").createPairing(c.id, deviceId);
      expect(p2.epoch).to.equal(2);
      expect(p2.pairKey).to.not.equal(p.pairKey);
      expect(Buffer.from(p2.grant, "hex").readUInt32BE(6)).to.be.above(g.readUInt32BE(6));
      expect(cardPairs(c.link, c.key, p2)).to.equal(OK);
      expect(cardPairs(c.link, c.key, p)).to.equal(E_OLD_SEQ);
    });

    it("seals a payment the card opens through the bound phone and shows as asked; the code reaches no one else", async () => {
      const c = await pairedCard();
      const before = c.link.lastIssuerSeq;
      const made = await as("verify").createPayment(c.id, { ...PAY, ttlSeconds: 120 });
      expect(Object.keys(made).sort()).to.deep.equal(["expiry", "frame", "paymentId"]);
      const env = Buffer.from(made.frame, "hex");
      expect(env[1]).to.equal(T_PAYMENT_DATA);
      expect(env.readUInt32BE(10)).to.equal(Math.floor(nowS()) + 120);
      expect(new Date(made.expiry).getTime()).to.equal(env.readUInt32BE(10) * 1000);
      const r = cardReceives(c.link, c.pairing.pairKey, made.frame, ++c.phoneSeq);
      expect(r.code).to.equal(OK);
      expect(r.issuerSeq).to.be.above(before);
      const v = r.view;
      expect([v.amount, v.currency, v.exponent, Buffer.from(v.payee).toString(), Buffer.from(v.details).toString()]).to.deep.equal([
        PAY.amount, PAY.currency, PAY.exponent, PAY.payee, PAY.details,
      ]);
      expect(v.code).to.match(/^[0-9]{6}$/);
      expect(v.expiry).to.equal(env.readUInt32BE(10));
      // Neither in the answer nor in the envelope's bytes, nor in the issuer's record or audit.
      expect(env.includes(Buffer.from(v.code))).to.equal(false);
      const rec = (await iss.issuer.store.getPayment(made.paymentId))!;
      expect(JSON.stringify(rec)).to.not.include(v.code);
      expect(rec.txId).to.equal(Buffer.from(v.txId).toString("hex"));
      // Another phone's key (an earlier pairing's, another device's) does not get it through.
      const other = Buffer.from(hexToBytes(c.pairing.pairKey)).fill(7).toString("hex");
      expect(cardReceives({ ...c.link }, other, made.frame, c.phoneSeq + 1).code).to.not.equal(OK);
    });

    it("confirms the card's answer once: an independent OCRA answer is accepted, a second confirm is 409 and changes nothing", async () => {
      const c = await pairedCard();
      const made = await as("verify").createPayment(c.id, PAY);
      const { view } = cardReceives(c.link, c.pairing.pairKey, made.frame, ++c.phoneSeq);
      const answer = independentAnswer(c.key, view);
      expect(await as("verify").confirmPayment(made.paymentId, answer)).to.deep.equal({ ok: true, paymentId: made.paymentId });
      const version = (await iss.issuer.store.getCard(c.id))!.version;
      for (const [r, a] of [["verify", answer], ["admin", answer], ["verify", "00000000"]] as const) {
        const e = await as(r).confirmPayment(made.paymentId, a).catch((x: IssuerHttpError) => x);
        expect(e).to.be.instanceOf(IssuerHttpError);
        expect((e as IssuerHttpError).status).to.equal(409);
        expect((e as Error).message).to.not.include(answer);
      }
      expect((await iss.issuer.store.getCard(c.id))!.version).to.equal(version);
      expect((await iss.issuer.store.getPayment(made.paymentId))!.status).to.equal("accepted");
      // Audited, under the card: pair, payment, confirm; no code, answer or key in any entry.
      const trail = await as("admin").audit({ card: c.id });
      expect(trail.map((e) => `${e.event}:${e.outcome}`).slice(0, 3)).to.deep.equal(["confirm:ok", "payment:ok", "pair:ok"]);
      const text = JSON.stringify(trail);
      for (const secret of [view.code, answer, c.pairing.pairKey, Buffer.from(c.key).toString("hex")]) expect(text).to.not.include(secret);
    });

    it("counts wrong answers: the third makes the payment void, and the right one is then refused", async () => {
      const c = await pairedCard();
      const made = await as("verify").createPayment(c.id, PAY);
      const { view } = cardReceives(c.link, c.pairing.pairKey, made.frame, ++c.phoneSeq);
      const answer = independentAnswer(c.key, view);
      const wrong = String((Number(answer) + 1) % 1e8).padStart(8, "0");
      expect(await as("verify").confirmPayment(made.paymentId, wrong)).to.deep.equal({ ok: false, reason: "mismatch", attemptsLeft: 2 });
      expect(await as("verify").confirmPayment(made.paymentId, wrong)).to.deep.equal({ ok: false, reason: "mismatch", attemptsLeft: 1 });
      expect(await as("verify").confirmPayment(made.paymentId, wrong)).to.deep.equal({ ok: false, reason: "mismatch", attemptsLeft: 0, status: "void" });
      const e = await as("verify").confirmPayment(made.paymentId, answer).catch((x: IssuerHttpError) => x);
      expect((e as IssuerHttpError).status).to.equal(409);
      expect((await iss.issuer.store.getPayment(made.paymentId))!).to.include({ status: "void", failures: 3 });
      // One wrong answer does not spoil the next right one.
      const m2 = await as("verify").createPayment(c.id, PAY);
      const r2 = cardReceives(c.link, c.pairing.pairKey, m2.frame, ++c.phoneSeq);
      const a2 = independentAnswer(c.key, r2.view);
      expect((await as("verify").confirmPayment(m2.paymentId, String((Number(a2) + 5) % 1e8).padStart(8, "0"))).ok).to.equal(false);
      expect((await as("verify").confirmPayment(m2.paymentId, a2)).ok).to.equal(true);
    });

    it("refuses a confirm after the payment's expiry (409, nothing changes), and a card's answer binds its own payment only", async () => {
      const c = await pairedCard();
      const a = await as("verify").createPayment(c.id, { ...PAY, ttlSeconds: 30 });
      const b = await as("verify").createPayment(c.id, { ...PAY, amount: 12346, ttlSeconds: 600 });
      const va = cardReceives(c.link, c.pairing.pairKey, a.frame, ++c.phoneSeq).view;
      const ansA = independentAnswer(c.key, va);
      // b's envelope has a later seq than a's: a card that took a refuses nothing here; b's answer differs (amount, transaction).
      const vb = cardReceives(c.link, c.pairing.pairKey, b.frame, ++c.phoneSeq).view;
      const ansB = independentAnswer(c.key, vb);
      expect(ansB).to.not.equal(ansA);
      expect((await as("verify").confirmPayment(b.paymentId, ansA)).ok).to.equal(false);
      clock.advance(31);
      try {
        const e = await as("verify").confirmPayment(a.paymentId, ansA).catch((x: IssuerHttpError) => x);
        expect((e as IssuerHttpError).status).to.equal(409);
        expect((e as Error).message).to.match(/expired/);
        expect((await iss.issuer.store.getPayment(a.paymentId))!).to.include({ status: "pending", failures: 0 });
        expect((await as("verify").confirmPayment(b.paymentId, ansB)).ok).to.equal(true);
      } finally {
        clock.advance(-31);
      }
    });

    it("admits each role to its endpoints only: 403 before anything is read or changed", async () => {
      const c = await pairedCard();
      const made = await as("verify").createPayment(c.id, PAY);
      const routes: [string, string, Role[]][] = [
        [`/v1/cards/${c.id}/pairings`, JSON.stringify({ deviceId: c.deviceId }), ["issue", "admin"]],
        [`/v1/cards/${c.id}/payments`, JSON.stringify(PAY), ["verify", "admin"]],
        [`/v1/payments/${made.paymentId}/confirm`, JSON.stringify({ answer: "00000000" }), ["verify", "admin"]],
      ];
      for (const [path, body, admitted] of routes) {
        for (const role of ROLES) {
          const version = (await iss.issuer.store.getCard(c.id))!.version;
          const r = await raw(iss.url, "POST", path, { token: tokens[role], body });
          if (admitted.includes(role)) {
            expect(r.status, `${role} ${path}`).to.be.oneOf([200, 201]);
            expect((await iss.issuer.store.getCard(c.id))!.version).to.equal(version + 1);
          } else {
            expect(r.status, `${role} ${path}`).to.equal(403);
            expect((await iss.issuer.store.getCard(c.id))!.version).to.equal(version);
          }
        }
        expect((await raw(iss.url, "POST", path, { body })).status).to.equal(401);
      }
    });

    it("answers hostile bodies with 400 (or 404) and stores nothing", async () => {
      const c = await pairedCard();
      const made = await as("verify").createPayment(c.id, PAY);
      const pay = (over: Record<string, unknown>) => JSON.stringify({ ...PAY, ...over });
      const bad: [string, string][] = [
        ...[-1, 1.5, "100", 1e12, null].map((amount): [string, string] => ["payments", pay({ amount })]),
        ...["eur", "EURO", "", "E1R", 978].map((currency): [string, string] => ["payments", pay({ currency })]),
        ...[5, -1, 2.5, "2"].map((exponent): [string, string] => ["payments", pay({ exponent })]),
        ...["", "x".repeat(31), "a\nb", "a\u0085b", "\u007f", "é".repeat(16), 7].map((payee): [string, string] => ["payments", pay({ payee })]),
        ["payments", pay({}).replace('"Café du Parc"', '"\\ud800x"')], // a lone surrogate: not UTF-8
        ...["x".repeat(91), "é".repeat(46), "tab\there", "\u200b".repeat(31)].map((details): [string, string] => ["payments", pay({ details })]),
        ...[0, 29, 3601, "300"].map((ttlSeconds): [string, string] => ["payments", pay({ ttlSeconds })]),
        ["payments", pay({ code: "123456" })],
        ["payments", JSON.stringify({ amount: 1, currency: "EUR", exponent: 2 })],
        ["payments", '{"__proto__": {"x": 1}, "amount": 1}'],
        ["payments", "[]"],
        ...["", "ab", c.deviceId.toUpperCase(), c.deviceId + "00", "g".repeat(32)].map((deviceId): [string, string] => ["pairings", JSON.stringify({ deviceId })]),
        ["pairings", JSON.stringify({ deviceId: c.deviceId, epoch: 9 })],
        ...["1234567", "123456789", "abcdefgh", "１２３４５６７８", 12345678].map((answer): [string, string] => ["confirm", JSON.stringify({ answer })]),
      ];
      const version = (await iss.issuer.store.getCard(c.id))!.version;
      const tok = tokens.admin;
      for (const [what, body] of bad) {
        const path = what === "confirm" ? `/v1/payments/${made.paymentId}/confirm` : `/v1/cards/${c.id}/${what}`;
        const r = await raw(iss.url, "POST", path, { token: tok, body });
        expect(r.status, `${what} ${body}`).to.equal(400);
        expect(r.json, body).to.have.property("error").that.is.a("string");
      }
      // Errors name the field, never the value.
      const r = await raw(iss.url, "POST", `/v1/cards/${c.id}/payments`, { token: tok, body: pay({ payee: "é".repeat(16) }) });
      expect((r.json as { error: string }).error).to.match(/payee/).and.not.include("é");
      expect((await iss.issuer.store.getCard(c.id))!.version).to.equal(version);
      expect((await iss.issuer.store.getPayment(made.paymentId))!).to.include({ status: "pending", failures: 0 });
      // Unknown card or payment: 404.
      const none = "00000000-0000-4000-8000-000000000000";
      expect((await raw(iss.url, "POST", `/v1/cards/${none}/payments`, { token: tok, body: pay({}) })).status).to.equal(404);
      expect((await raw(iss.url, "POST", `/v1/cards/${none}/pairings`, { token: tok, body: JSON.stringify({ deviceId: c.deviceId }) })).status).to.equal(404);
      expect((await raw(iss.url, "POST", `/v1/payments/${none}/confirm`, { token: tok, body: '{"answer":"12345678"}' })).status).to.equal(404);
      expect((await raw(iss.url, "POST", `/v1/payments/not-a-uuid/confirm`, { token: tok, body: '{"answer":"12345678"}' })).status).to.equal(400);
      // A blocked card: nothing is sealed for it (409), nothing changes.
      await as("admin").block(c.id);
      const v2 = (await iss.issuer.store.getCard(c.id))!.version;
      for (const [path, body] of [[`/v1/cards/${c.id}/payments`, pay({})], [`/v1/cards/${c.id}/pairings`, JSON.stringify({ deviceId: c.deviceId })]]) {
        expect((await raw(iss.url, "POST", path, { token: tok, body })).status).to.equal(409);
      }
      expect((await iss.issuer.store.getCard(c.id))!.version).to.equal(v2);
    });

    it("under concurrency: 20 simultaneous right answers accept once; simultaneous seals and pairings never share a seq or an epoch", async () => {
      const c = await pairedCard();
      const made = await as("verify").createPayment(c.id, PAY);
      const { view } = cardReceives(c.link, c.pairing.pairKey, made.frame, ++c.phoneSeq);
      const answer = independentAnswer(c.key, view);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => as(i % 2 ? "verify" : "admin").confirmPayment(made.paymentId, answer).then((r) => r.ok, (e: IssuerHttpError) => e.status)),
      );
      expect(results.filter((r) => r === true)).to.have.length(1);
      expect(results.filter((r) => r === 409)).to.have.length(19);
      const trail = await as("admin").audit({ card: c.id, limit: 1000 });
      expect(trail.filter((e) => e.event === "confirm")).to.have.length(1);

      const [pays, pairs] = await Promise.all([
        Promise.all(Array.from({ length: 20 }, () => as("verify").createPayment(c.id, PAY))),
        Promise.all(Array.from({ length: 10 }, () => as("issue").createPairing(c.id, c.deviceId))),
      ]);
      const seqs = [...pays.map((p: CreatedPayment) => p.frame), ...pairs.map((p) => p.grant)].map((f) => Buffer.from(f, "hex").readUInt32BE(6));
      expect(new Set(seqs).size).to.equal(30);
      expect(Math.min(...seqs)).to.be.above(c.link.lastIssuerSeq);
      expect(pairs.map((p) => p.epoch).sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 10 }, (_, i) => i + 2));
      expect(new Set(pays.map((p) => p.paymentId)).size).to.equal(20);
    });

    it("keeps the issuer seq growing across a restart, even with the clock set back", async () => {
      const c = await pairedCard();
      const first = await as("verify").createPayment(c.id, PAY);
      const seq1 = Buffer.from(first.frame, "hex").readUInt32BE(6);
      await iss.close();
      const back = new FakeClock(clock.ms - 86_400_000);
      const again = await startTestIssuer({ db: dbUrl, now: back.now });
      try {
        const client = again.client;
        const p = await client.createPayment(c.id, PAY);
        expect(Buffer.from(p.frame, "hex").readUInt32BE(6)).to.equal(seq1 + 1);
        expect((await client.createPairing(c.id, c.deviceId)).epoch).to.equal(2);
      } finally {
        await again.close();
        iss = await startTestIssuer({ db: dbUrl, now: clock.now });
        for (const r of ROLES) tokens[r] = await iss.createToken(`${r} test`, r);
      }
    });
  });
}
