/**
 * The issuer's part of personalisation (document A, docs/personalisation.md;
 * docs/issuer-api.md, "Personalisation"), on each store. The card is played
 * by the core code the card runs (openFrame under K_seal, checkProfileData,
 * writeSlot, readSecurity, securityProof) over an in-memory flash; the phone
 * by applyResponse under the K_pair its pairing gave it. What the issuer
 * releases is checked there, not against the issuer's own code.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { etmAead } from "../../firmware/core/aead.ts";
import { bytesToHex, hexToBytes } from "../../firmware/core/bytes.ts";
import { E_OLD_SEQ, E_WRONG_CARD, newFrame, OK, openFrame, T_PROFILE_DATA } from "../../firmware/core/frames.ts";
import { hotp } from "../../firmware/core/otp.ts";
import { deriveCardId, deriveSealKey } from "../../firmware/core/pairing.ts";
import {
  applyResponse,
  checkProfileData,
  MAX_SERIAL,
  PURPOSE_VERIFY,
  PURPOSE_WRITE,
  readSecurity,
  securityProof,
  slotProfile,
  STEP_AUTH,
  STEP_OTP,
  writeSlot,
} from "../../firmware/core/personal.ts";
import { decodeProfile } from "../../firmware/core/profile.ts";
import type { FlashStore } from "../../firmware/core/types.ts";
import type { Begun } from "../../host-tools/issuance/protocol.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { IssuerClient, IssuerHttpError } from "../../host-tools/issuer/client.ts";
import type { ApplyRequest } from "../../host-tools/issuer/service.ts";
import type { Role } from "../../host-tools/issuer/store/types.ts";
import { codeOf, FakeClock, postgresDb, raw, sqliteDb, startTestIssuer, type TestDb, type TestIssuer } from "./support.ts";

const sha256 = nodeHash("SHA256");
const sha1 = nodeHash("SHA1");
const aead = etmAead(sha256);
const ROLES: Role[] = ["verify", "issue", "admin"];
const PROFILE = "inkcard.prof";
const APP = { label: "GYM 0042", mode: "counter" as const };

/** The card: its flash, its key (slot 0's), and the core code it runs on what it receives. */
class Card {
  files = new Map<string, Uint8Array>();
  lastIssuerSeq = 0;
  readonly cardId: number;
  readonly seal: Uint8Array;

  constructor(
    readonly serial: string,
    readonly key: Uint8Array,
    readonly now: () => number,
  ) {
    this.cardId = deriveCardId(sha256, key);
    this.seal = deriveSealKey(sha256, key);
  }

  get store(): FlashStore {
    return {
      read: (n) => this.files.get(n),
      write: (n, d, o, size) => {
        const f = size !== undefined ? new Uint8Array(size) : Uint8Array.from(this.files.get(n) ?? new Uint8Array(o + d.length));
        f.set(d, o);
        this.files.set(n, f);
        return true;
      },
      erase: (n) => void this.files.delete(n),
    };
  }

  /** A copy of the card's storage as it is now (a flash dump). */
  clone(): Card {
    const c = new Card(this.serial, this.key, this.now);
    for (const [n, f] of this.files) c.files.set(n, Uint8Array.from(f));
    c.lastIssuerSeq = this.lastIssuerSeq;
    return c;
  }

  /** SECURITY_PROOF / VERIFY_PROOF: the slot's generation and proof (0 and zeros when it holds no code). */
  proof(slot: number, nonce: string, purpose: number): { generation: number; proof: string } {
    const held = readSecurity(this.store, sha256, PROFILE, slot);
    if (!held) return { generation: 0, proof: "0".repeat(32) };
    return { generation: held.generation, proof: bytesToHex(securityProof(sha256, held.code, purpose, slot, held.generation, this.serial, hexToBytes(nonce))) };
  }

  /** The envelope as the card takes it from PROFILE_WRITE: opened under K_seal, checked, staged and installed. */
  receive(frame: string): number {
    const out = newFrame();
    let code = openFrame(aead, this.seal, hexToBytes(frame), T_PROFILE_DATA, this.cardId, this.lastIssuerSeq, Math.floor(this.now() / 1000), out);
    if (code !== OK) return code;
    code = checkProfileData(out.body, sha256, this.serial, this.store, PROFILE);
    if (code !== OK) return code;
    this.lastIssuerSeq = out.seq;
    expect(writeSlot(this.store, sha256, PROFILE, out.body)).to.equal(true);
    return OK;
  }

  /** The code the slot's profile makes at a counter: HMAC under K0 (its pads' key) is HMAC under the key. */
  code(slot: number, counter: number): string {
    const p = decodeProfile(this.files.get(slotProfile(PROFILE, slot)), sha256)!;
    const k0 = p.pads.slice(0, 64).map((b) => b ^ 0x36);
    return hotp(p.algorithm === "SHA1" ? sha1 : sha256, k0, counter, p.digits);
  }
}

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer personalisation on ${db.kind}`, function () {
    this.timeout(120_000);
    const clock = new FakeClock();
    let dbUrl: string;
    let iss: TestIssuer;
    const tokens = {} as Record<Role, string>;
    const as = (r: Role) => new IssuerClient(iss.url, tokens[r]);
    const phone = () => as("issue");
    const device = () => as("verify");

    before(async function (this: Mocha.Context) {
      dbUrl = await db.create(this);
      iss = await startTestIssuer({ db: dbUrl, now: clock.now });
      for (const r of ROLES) tokens[r] = await iss.createToken(`${r} test`, r);
    });
    after(async () => {
      await iss?.close();
      await db.cleanup();
    });

    /** A chip with an issued card (issuance, proven), optionally paired with a phone. */
    async function issuedChip(paired = true) {
      const serial = `chip-${randomBytes(6).toString("hex")}`; // 17 characters, as an nRF52's
      const body = JSON.stringify({ chipSerial: serial, firmware: "1.0.0", mode: "counter", digits: 6 });
      const begun = (await raw(iss.url, "POST", "/v1/issuance", { token: tokens.admin, body })).json as Begun;
      const ok = await raw(iss.url, "POST", `/v1/issuance/${begun.card.id}/confirm`, {
        token: tokens.admin,
        body: JSON.stringify({ digest: begun.digest, code: codeOf(begun.package, 0) }),
      });
      expect(ok.status).to.equal(200);
      const card = new Card(serial, hexToBytes(begun.package.key), clock.now);
      const deviceId = randomBytes(16).toString("hex");
      const pairKey = paired ? hexToBytes((await phone().createPairing(begun.card.id, deviceId)).pairKey) : new Uint8Array(32);
      return { baseId: begun.card.id, card, deviceId, pairKey };
    }

    type Chip = Awaited<ReturnType<typeof issuedChip>>;

    const respond = (c: Chip, step: number, nonce: string, code: string, key = c.pairKey) =>
      bytesToHex(applyResponse(sha256, key, step, hexToBytes(nonce), c.card.serial, hexToBytes(code)));

    const applyReq = (c: Chip, slot: number, app: ApplyRequest["application"] = APP): ApplyRequest => ({ chipSerial: c.card.serial, slot, deviceId: c.deviceId, application: app });

    /** apply, otp, and auth with the card's proof: the session id and what was released. */
    async function release(c: Chip, slot: number, app: ApplyRequest["application"] = APP, card = c.card) {
      const s = await phone().apply(applyReq(c, slot, app));
      const { authCode } = await phone().otp(s.id, respond(c, STEP_OTP, s.nonce, s.otp));
      const p = card.proof(slot, s.nonce, PURPOSE_WRITE);
      const r = await phone().auth(s.id, { response: respond(c, STEP_AUTH, s.nonce, authCode), ...p });
      return { session: s, authCode, released: r };
    }

    /** A whole write: released, written on the card, confirmed. */
    async function write(c: Chip, slot: number, app: ApplyRequest["application"] = APP) {
      const { session, released } = await release(c, slot, app);
      expect(c.card.receive(released.frame)).to.equal(OK);
      const confirmed = await phone().confirm(session.id, c.card.proof(slot, released.confirmNonce, PURPOSE_WRITE));
      expect(confirmed).to.deep.equal({ generation: released.generation });
      return released;
    }

    /** A verification device's check of the card (or a copy of it). */
    async function verify(card: Card, slot: number) {
      const v = await device().createVerification(card.serial, slot);
      return device().verifyCard(v.id, card.proof(slot, v.nonce, PURPOSE_VERIFY));
    }

    async function status(p: Promise<unknown>): Promise<{ status: number; message: string }> {
      const e = await p.then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e, "expected a refusal").to.be.instanceOf(IssuerHttpError);
      return { status: (e as IssuerHttpError).status, message: (e as Error).message };
    }

    it("writes a first profile, then rewrites it: before the roll current and pending pass; after it the old code is refused", async () => {
      const c = await issuedChip();
      const first = await write(c, 1);
      expect(Object.keys(first).sort()).to.deep.equal(["confirmNonce", "frame", "generation", "profileCardId", "securityCode"]);
      expect(first.generation).to.equal(1);
      // The card holds the code the phone was given, and its profile makes codes the issuer verifies under the profile card.
      expect(bytesToHex(readSecurity(c.card.store, sha256, PROFILE, 1)!.code)).to.equal(first.securityCode);
      expect(decodeProfile(c.card.files.get(slotProfile(PROFILE, 1)), sha256)!.cardId).to.equal(APP.label);
      expect(await as("verify").verify(first.profileCardId, c.card.code(1, 0))).to.deep.include({ ok: true });
      expect((await as("admin").getCard(first.profileCardId)).digits).to.equal(6);
      expect(await verify(c.card, 1)).to.deep.equal({ genuine: true, generation: 1 });

      const dump = c.card.clone(); // a copy taken before the rewrite
      const { session, released } = await release(c, 1, { label: "GYM 0042", mode: "counter" });
      expect(released.generation).to.equal(2);
      expect(released.securityCode).to.not.equal(first.securityCode);
      expect(released.profileCardId).to.not.equal(first.profileCardId);
      // Not yet written: the current code passes.
      expect(await verify(c.card, 1)).to.deep.equal({ genuine: true, generation: 1 });
      // Written, its confirmation not yet given: the pending code passes too (and the slot rolls).
      expect(c.card.receive(released.frame)).to.equal(OK);
      expect(await verify(c.card, 1)).to.deep.equal({ genuine: true, generation: 2 });
      // The confirmation, arriving after that roll, is taken; and taken again.
      const proof = c.card.proof(1, released.confirmNonce, PURPOSE_WRITE);
      expect(await phone().confirm(session.id, proof)).to.deep.equal({ generation: 2 });
      expect(await phone().confirm(session.id, proof)).to.deep.equal({ generation: 2 });
      // The copy holds generation 1: no longer genuine, and a rewrite through it is refused as a possible clone.
      expect(await verify(dump, 1)).to.deep.equal({ genuine: false, generation: 1 });
      expect(await verify(c.card, 1)).to.deep.equal({ genuine: true, generation: 2 });
      const e = await status(release(c, 1, APP, dump));
      expect(e.status).to.equal(403);
      expect(e.message).to.include("security code does not match");
      // The profile the rewrite replaced is retired: its codes (which the copy can still make) no longer verify.
      expect((await as("admin").getCard(first.profileCardId)).status).to.equal("blocked");
      expect(await as("verify").verify(first.profileCardId, dump.code(1, 1))).to.deep.include({ ok: false });
      expect((await as("admin").getCard(released.profileCardId)).status).to.equal("active");
      const trail = await as("admin").audit({ card: c.baseId, limit: 100 });
      expect(trail.some((a) => a.event === "personalise" && a.outcome === "possible clone")).to.equal(true);
      expect(trail.filter((a) => a.event === "verification" && a.outcome === "not genuine")).to.have.length(1);
    });

    it("confirms a write by the card's proof under the pending code; a write to another slot is independent", async () => {
      const c = await issuedChip();
      const r1 = await write(c, 1);
      const r3 = await write(c, 3, { label: "LIBRARY", mode: "time", digits: 8, holder: "Ada Lovelace" });
      expect([r1.generation, r3.generation]).to.deep.equal([1, 1]);
      expect(decodeProfile(c.card.files.get(slotProfile(PROFILE, 3)), sha256)).to.deep.include({ cardId: "LIBRARY", mode: "time", digits: 8 });
      const slot = (await iss.issuer.store.getSlot(c.baseId, 3))!;
      expect(slot).to.deep.include({ generation: 1, pendingGeneration: 0, profileCardId: r3.profileCardId });
      expect(await verify(c.card, 2)).to.deep.equal({ genuine: false, generation: 0 });
    });

    it("the envelope opens with the core openFrame under the base card's K_seal, and its body passes checkProfileData for its serial only", async () => {
      const c = await issuedChip();
      const { released } = await release(c, 2);
      const bytes = hexToBytes(released.frame);
      const out = newFrame();
      expect(openFrame(aead, deriveSealKey(sha256, c.card.key), bytes, T_PROFILE_DATA, deriveCardId(sha256, c.card.key), 0, Math.floor(clock.ms / 1000), out)).to.equal(OK);
      expect(out.expiry).to.equal(Math.floor(clock.ms / 1000) + 120);
      expect(checkProfileData(out.body, sha256, c.card.serial, c.card.store, PROFILE)).to.equal(OK);
      expect(checkProfileData(out.body, sha256, c.card.serial.replace(/.$/, "x"), c.card.store, PROFILE)).to.equal(E_WRONG_CARD);
      // slot, previous 0, generation 1, the code given to the phone.
      expect([out.body[0], Buffer.from(out.body).readUInt32BE(1), Buffer.from(out.body).readUInt32BE(5)]).to.deep.equal([2, 0, 1]);
      expect(bytesToHex(out.body.subarray(9, 41))).to.equal(released.securityCode);
      // Another card's seal key does not open it.
      const other = deriveSealKey(sha256, randomBytes(32));
      expect(openFrame(aead, other, bytes, T_PROFILE_DATA, deriveCardId(sha256, c.card.key), 0, Math.floor(clock.ms / 1000), newFrame())).to.not.equal(OK);
    });

    it("retries converge: a second release before the confirmation gives the same generation and code in a new envelope", async () => {
      const c = await issuedChip();
      await write(c, 1);
      const a = await release(c, 1);
      const b = await release(c, 1); // the first write was lost: the card still proves generation 1
      expect(b.released.generation).to.equal(a.released.generation).and.equal(2);
      expect(b.released.securityCode).to.equal(a.released.securityCode);
      expect(b.released.profileCardId).to.equal(a.released.profileCardId);
      expect(b.released.frame).to.not.equal(a.released.frame);
      expect(b.released.confirmNonce).to.not.equal(a.released.confirmNonce);
      expect(c.card.receive(b.released.frame)).to.equal(OK);
      // The older envelope is refused now: its issuer seq is below the one taken, and it was made for generation 1.
      expect(c.card.clone().receive(a.released.frame)).to.be.oneOf([E_OLD_SEQ]);
      // The confirmation is lost: the next write's proof under the pending code rolls the slot, then goes on.
      const next = await release(c, 1);
      expect(next.released.generation).to.equal(3);
      expect(c.card.receive(next.released.frame)).to.equal(OK);
      expect(await phone().confirm(next.session.id, c.card.proof(1, next.released.confirmNonce, PURPOSE_WRITE))).to.deep.equal({ generation: 3 });
      expect(await verify(c.card, 1)).to.deep.equal({ genuine: true, generation: 3 });
      // A retry must ask for the same application while a profile is pending.
      await release(c, 1);
      const e = await status(phone().apply(applyReq(c, 1, { label: "OTHER", mode: "counter" })));
      expect(e.status).to.equal(409);
    });

    it("every session value is single use", async () => {
      const c = await issuedChip();
      const { session, authCode, released } = await release(c, 1);
      expect((await status(phone().otp(session.id, respond(c, STEP_OTP, session.nonce, session.otp)))).status).to.equal(409);
      const again = { response: respond(c, STEP_AUTH, session.nonce, authCode), ...c.card.proof(1, session.nonce, PURPOSE_WRITE) };
      expect((await status(phone().auth(session.id, again))).status).to.equal(409);
      expect(c.card.receive(released.frame)).to.equal(OK);
      expect(c.card.receive(released.frame)).to.not.equal(OK); // the card takes an envelope once
      const v = await device().createVerification(c.card.serial, 1);
      await device().verifyCard(v.id, c.card.proof(1, v.nonce, PURPOSE_VERIFY));
      expect((await status(device().verifyCard(v.id, c.card.proof(1, v.nonce, PURPOSE_VERIFY)))).status).to.equal(409);
      // auth before otp: 409, nothing counted.
      const s2 = await phone().apply(applyReq(c, 1));
      expect((await status(phone().auth(s2.id, { response: "00".repeat(32), generation: 0, proof: "00".repeat(16) }))).status).to.equal(409);
      expect((await iss.issuer.store.getSession(s2.id))!.failures).to.equal(0);
    });

    it("a session dies after 120 s (410)", async () => {
      const c = await issuedChip();
      const s = await phone().apply(applyReq(c, 1));
      expect(new Date(s.expiresAt).getTime()).to.equal(clock.ms + 120_000);
      const v = await device().createVerification(c.card.serial, 1);
      clock.advance(121);
      expect((await status(phone().otp(s.id, respond(c, STEP_OTP, s.nonce, s.otp)))).status).to.equal(410);
      expect((await status(device().verifyCard(v.id, c.card.proof(1, v.nonce, PURPOSE_VERIFY)))).status).to.equal(410);
      // Within its time, the next step of a session that started late is still taken.
      const s2 = await phone().apply(applyReq(c, 1));
      clock.advance(119);
      expect(await phone().otp(s2.id, respond(c, STEP_OTP, s2.nonce, s2.otp))).to.have.property("authCode");
    });

    it("three wrong answers void a session; the right one is then 410", async () => {
      const c = await issuedChip();
      const s = await phone().apply(applyReq(c, 1));
      const wrong = bytesToHex(randomBytes(32));
      for (let i = 1; i <= 3; i++) {
        const e = await status(phone().otp(s.id, wrong));
        expect(e.status).to.equal(403);
        if (i === 3) expect(e.message).to.include("void");
      }
      expect((await status(phone().otp(s.id, respond(c, STEP_OTP, s.nonce, s.otp)))).status).to.equal(410);
      const row = (await iss.issuer.store.getSession(s.id))!;
      expect([row.state, row.failures]).to.deep.equal(["void", 3]);
      // Wrong proofs at auth count too.
      const s2 = await phone().apply(applyReq(c, 1));
      const { authCode } = await phone().otp(s2.id, respond(c, STEP_OTP, s2.nonce, s2.otp));
      const response = respond(c, STEP_AUTH, s2.nonce, authCode);
      for (let i = 0; i < 3; i++) expect((await status(phone().auth(s2.id, { response, generation: 1, proof: bytesToHex(randomBytes(16)) }))).status).to.equal(403);
      expect((await status(phone().auth(s2.id, { response, ...c.card.proof(1, s2.nonce, PURPOSE_WRITE) }))).status).to.equal(410);
    });

    it("only the phone bound now can answer; an unpaired card, an unknown chip are refused", async () => {
      const c = await issuedChip();
      const old = c.pairKey;
      const next = await phone().createPairing(c.baseId, c.deviceId); // the same phone paired again: epoch 2
      const s = await phone().apply(applyReq(c, 1));
      expect((await status(phone().otp(s.id, respond(c, STEP_OTP, s.nonce, s.otp, old)))).status).to.equal(403);
      // Another device naming this one's id has not its key either.
      const stranger = hexToBytes(bytesToHex(randomBytes(32)));
      expect((await status(phone().otp(s.id, respond(c, STEP_OTP, s.nonce, s.otp, stranger)))).status).to.equal(403);
      expect(await phone().otp(s.id, respond(c, STEP_OTP, s.nonce, s.otp, hexToBytes(next.pairKey)))).to.have.property("authCode");
      // A new device id with the bound phone's key does not answer for it.
      const s2 = await phone().apply({ ...applyReq(c, 1), deviceId: randomBytes(16).toString("hex") });
      expect((await status(phone().otp(s2.id, respond(c, STEP_OTP, s2.nonce, s2.otp, hexToBytes(next.pairKey))))).status).to.equal(403);
      const u = await issuedChip(false);
      expect((await status(phone().apply(applyReq(u, 1)))).status).to.equal(409);
      expect((await status(phone().apply({ ...applyReq(u, 1), chipSerial: "no-such-chip" }))).status).to.equal(404);
    });

    it("a verification of an unknown chip answers not genuine, once, like any other", async () => {
      const v = await device().createVerification("unknown-chip-1", 2);
      expect(Object.keys(v).sort()).to.deep.equal(["expiresAt", "id", "nonce"]);
      const body = { generation: 4, proof: bytesToHex(randomBytes(16)) };
      expect(await device().verifyCard(v.id, body)).to.deep.equal({ genuine: false, generation: 4 });
      expect((await status(device().verifyCard(v.id, body))).status).to.equal(409);
      // A known chip whose slot holds nothing: the same answer.
      const c = await issuedChip();
      expect(await verify(c.card, 2)).to.deep.equal({ genuine: false, generation: 0 });
    });

    it("refuses hostile bodies with 400, unknown sessions with 404, other roles with 403", async () => {
      const c = await issuedChip();
      const s = await phone().apply(applyReq(c, 1));
      const good = { chipSerial: c.card.serial, slot: 1, deviceId: c.deviceId, application: { label: "A", mode: "counter" } };
      const bad: [string, string, unknown][] = [
        ["POST", "/v1/personalisations", { ...good, slot: 0 }],
        ["POST", "/v1/personalisations", { ...good, slot: 4 }],
        ["POST", "/v1/personalisations", { ...good, slot: "1" }],
        ["POST", "/v1/personalisations", { ...good, chipSerial: "" }],
        ["POST", "/v1/personalisations", { ...good, chipSerial: "x".repeat(MAX_SERIAL + 1) }],
        ["POST", "/v1/personalisations", { ...good, chipSerial: "chip 1" }],
        ["POST", "/v1/personalisations", { ...good, deviceId: "AB".repeat(16) }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "", mode: "counter" } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "x".repeat(13), mode: "counter" } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "café", mode: "counter" } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "A", mode: "hotp" } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "A", mode: "counter", digits: 5 } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "A", mode: "counter", digits: 9 } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "A", mode: "counter", holder: "x".repeat(65) } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "A", mode: "counter", holder: "a\nb" } }],
        ["POST", "/v1/personalisations", { ...good, application: { label: "A", mode: "counter", algorithm: "SHA512" } }],
        ["POST", "/v1/personalisations", { ...good, extra: 1 }],
        ["POST", `/v1/personalisations/${s.id}/otp`, { response: "AB".repeat(32) }],
        ["POST", `/v1/personalisations/${s.id}/otp`, { response: "ab".repeat(31) }],
        ["POST", `/v1/personalisations/${s.id}/otp`, {}],
        ["POST", `/v1/personalisations/${s.id}/auth`, { response: "ab".repeat(32), generation: -1, proof: "00".repeat(16) }],
        ["POST", `/v1/personalisations/${s.id}/auth`, { response: "ab".repeat(32), generation: 2 ** 32, proof: "00".repeat(16) }],
        ["POST", `/v1/personalisations/${s.id}/auth`, { response: "ab".repeat(32), generation: 1.5, proof: "00".repeat(16) }],
        ["POST", `/v1/personalisations/${s.id}/auth`, { response: "ab".repeat(32), generation: 1, proof: "00".repeat(15) }],
        ["POST", `/v1/personalisations/${s.id}/confirm`, { generation: 1 }],
        ["POST", "/v1/personalisations/not-a-uuid/otp", { response: "ab".repeat(32) }],
        ["POST", "/v1/verifications", { chipSerial: "chip-1", slot: 0 }],
        ["POST", "/v1/verifications", { chipSerial: "chip-1" }],
        ["POST", `/v1/verifications/${s.id}`, { generation: 1, proof: "zz".repeat(16) }],
      ];
      for (const [method, path, body] of bad) {
        const r = await raw(iss.url, method, path, { token: tokens.admin, body: JSON.stringify(body) });
        expect(r.status, `${path} ${JSON.stringify(body)}`).to.equal(400);
        expect((r.json as { error: string }).error).to.be.a("string");
      }
      // Nothing was counted against the session by all that.
      expect((await iss.issuer.store.getSession(s.id))!.failures).to.equal(0);
      const unknown = "00000000-0000-4000-8000-000000000000";
      expect((await status(phone().otp(unknown, "ab".repeat(32)))).status).to.equal(404);
      expect((await status(device().verifyCard(unknown, { generation: 0, proof: "00".repeat(16) }))).status).to.equal(404);
      // A write session is no verification, and the other way round.
      expect((await status(device().verifyCard(s.id, { generation: 0, proof: "00".repeat(16) }))).status).to.equal(404);
      const v = await device().createVerification(c.card.serial, 1);
      expect((await status(phone().otp(v.id, "ab".repeat(32)))).status).to.equal(404);
      // Roles: the phone's routes are the pairing route's (issue, admin), the device's the verify route's (verify, admin).
      expect((await status(device().apply(applyReq(c, 1)))).status).to.equal(403);
      expect((await status(phone().createVerification(c.card.serial, 1))).status).to.equal(403);
      // The phone page (another loopback origin) may call the phone's routes (its "Verify a card" included), and only those.
      const pre = (path: string, origin = "http://127.0.0.1:5555") => fetch(iss.url + path, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
      expect((await pre("/v1/personalisations")).status).to.equal(204);
      expect((await pre(`/v1/personalisations/${s.id}/auth`)).status).to.equal(204);
      expect((await pre(`/v1/verifications/${s.id}`)).headers.get("access-control-allow-origin")).to.equal("http://127.0.0.1:5555");
      expect((await pre("/v1/verifications", "https://evil.example")).headers.get("access-control-allow-origin")).to.equal(null);
      expect((await pre("/v1/cards")).headers.get("access-control-allow-origin")).to.equal(null);
    });

    it("keeps nothing secret in the audit trail, the sessions or the slots", async function () {
      const c = await issuedChip();
      const { session, authCode, released } = await release(c, 1);
      expect(c.card.receive(released.frame)).to.equal(OK);
      const proof = c.card.proof(1, released.confirmNonce, PURPOSE_WRITE);
      await phone().confirm(session.id, proof);
      const secrets = [session.otp, authCode, released.securityCode, respond(c, STEP_OTP, session.nonce, session.otp), proof.proof];
      const stored = JSON.stringify([
        await as("admin").audit({ card: c.baseId, limit: 100 }),
        await iss.issuer.store.getSession(session.id),
        await iss.issuer.store.getSlot(c.baseId, 1),
      ]);
      for (const x of secrets) expect(stored).to.not.include(x);
      if (db.kind !== "sqlite") return;
      // The database's files, WAL included: none of them anywhere.
      const dir = dirname(dbUrl);
      const bytes = Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
      for (const x of secrets) {
        expect(bytes.includes(Buffer.from(x))).to.equal(false);
        expect(bytes.includes(Buffer.from(x, "hex"))).to.equal(false);
      }
    });
  });
}
