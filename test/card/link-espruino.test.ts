/**
 * The card's Bluetooth link on the real interpreter (issue 11): the bundle
 * as flashed boots from Storage with a panel and a button that move
 * (press-rig.ts), and NRF stubbed, since Linux has no Bluetooth: the rig
 * keeps the service the firmware declares and calls its onWrite with each
 * write (WRITE), and collects the notifications. The phone's side is
 * link-driver.ts: frames.ts over the AEAD's node:crypto reference, and the
 * issuer of test/support/link-issuer.ts (node:crypto alone).
 *
 * What it shows at card speed: a bonding's passkey on the glass (the
 * stack's "passkey" event), HELLO, PAIR and a PAYMENT in writes of 20
 * bytes, the payment on the glass, a press answered with the issuer's OCRA
 * response, sealed under the pairing key; hostile frames (forged, replayed,
 * another card's, truncated, out of order) answered with their error code,
 * leaving flash and the glass as they were. Peak variables, sampled at
 * every SHA-256 block, write and notification as well as the panel's
 * samples, stay under the rig's PEAK_BOUND.
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as F from "../../firmware/core/frames.ts";
import { readAnswerBody } from "../../host-tools/phone/relay.ts";
import { sleep } from "../../host-tools/lib/interpreter.ts";
import { referenceAead } from "../core/etm-reference.ts";
import { requireEspruino } from "../build/espruino.ts";
import { LinkDriver, header } from "./link-driver.ts";
import { drawPasskeyScreen } from "../../firmware/core/screens.ts";
import { CARD_VARIABLES, HEADROOM, PEAK_BOUND, PressRig } from "./press-rig.ts";

describe("the Bluetooth link on the interpreter (issue 11)", function () {
  this.timeout(300_000);
  let rig: PressRig;
  let phone: LinkDriver;

  before(async function (this: Mocha.Context) {
    requireEspruino(this);
    rig = await PressRig.start();
    phone = await LinkDriver.start(rig);
  });
  after(async () => {
    await rig?.close();
  });

  const send = (writes: Uint8Array[]) => phone.send(writes);
  const fragments = (frame: Uint8Array) => phone.fragments(frame);

  /** The one answer of a refused frame: ERROR with this code. */
  function expectError(frames: Uint8Array[], code: number): void {
    expect(frames).to.have.length(1);
    const f = header(frames[0]);
    expect(f.type).to.equal(F.T_ERROR);
    expect(f.body[0], `ERROR ${f.body[0]}, wanted ${code}`).to.equal(code);
  }

  /** The flash file's bytes: what a refused frame must leave as it was. */
  const flash = () => readFileSync(join(rig.dir, "espruino.flash"));

  it("shows the passkey of a Bluetooth bonding on the glass, within the card's memory", async () => {
    await rig.settle();
    await rig.resetPeak();
    const before = await rig.panel();
    rig.interpreter.send('\x10NRF.H.passkey("402917")'); // what the stack emits when a phone bonds
    const after = await rig.settle();
    expect(after.refreshes).to.equal(before.refreshes + 1);
    expect(rig.shows(after, (s, d) => drawPasskeyScreen(s, d, "402917")), "the PAIRING screen with that passkey").to.equal(true);
    expect(await rig.peak()).to.be.at.most(PEAK_BOUND);
    expect(rig.failures()).to.deep.equal([]);
  });

  it("answers HELLO with its link id and no pairing, then takes the issuer's grant", async () => {
    const hello = await send(fragments(F.encodeFrame({ type: F.T_HELLO, cardId: 0, seq: 0, expiry: phone.issuer.t0 + 60 }, new Uint8Array(0))));
    expect(hello).to.have.length(1);
    const info = header(hello[0]);
    expect(info.type).to.equal(F.T_INFO);
    expect(info.cardId).to.equal(phone.issuer.cardId);
    expect([...info.body]).to.deep.equal([F.MAX_WRITE, 0, 0, 0, 0]);

    const grant = phone.issuer.grant(phone.device, 1);
    const h = header(grant);
    const acks = await send(fragments(F.encodeFrame({ type: F.T_PAIR, cardId: phone.issuer.cardId, seq: 0, expiry: h.expiry }, grant)));
    expect(acks).to.have.length(1);
    expect(header(acks[0]).type).to.equal(F.T_ACK);
    expect(rig.failures()).to.deep.equal([]);
  });

  it("shows a payment sent in 20-byte writes, answers a press with the issuer's response, within the card's memory", async () => {
    await rig.settle();
    await rig.resetPeak();
    const before = await rig.panel();
    const p = phone.payment();
    const writes = fragments(phone.paymentFrame(p));
    expect(writes.length).to.be.greaterThan(5);
    const acks = await send(writes);
    expect(acks.map((f) => header(f).type)).to.deep.equal([F.T_ACK]);
    const shown = await rig.settle();
    expect(shown.refreshes, "the payment was drawn").to.be.greaterThan(before.refreshes);

    rig.press(80);
    await rig.settle();
    let answer: Uint8Array | undefined;
    for (let i = 0; i < 50 && !answer; i++) {
      answer = (await phone.answers()).find((f) => header(f).type === F.T_ANSWER);
      if (!answer) await sleep(100);
    }
    expect(answer, "an ANSWER was notified").to.not.equal(undefined);
    const out = F.newFrame();
    expect(F.openFrame(referenceAead, phone.pairKey, answer!, F.T_ANSWER, phone.issuer.cardId, -1, phone.issuer.t0, out)).to.equal(F.OK);
    expect(out.seq).to.equal(phone.seq);
    const r = readAnswerBody(out.body);
    expect(r === phone.issuer.answer(p), "the card's response is the issuer's").to.equal(true);

    const peak = await rig.peak();
    const sha = (await rig.ask(["R.sh"]))[0];
    expect(sha, "SHA-256 blocks sampled").to.be.greaterThan(20);
    console.log(`      peak ${peak} variables during a payment and its answer (bound ${PEAK_BOUND} = ${CARD_VARIABLES} - ${HEADROOM}), ${sha} SHA-256 calls sampled`);
    expect(peak).to.be.at.most(PEAK_BOUND);
    expect(rig.failures()).to.deep.equal([]);
  });

  it("refuses hostile frames with their error code, changing nothing in flash or on the glass", async () => {
    await rig.settle();
    const glass = await rig.panel();
    const image = flash();
    const p = phone.payment();
    const good = phone.paymentFrame(p);
    phone.seq--; // the frames below are refused: the next good one may use this seq again

    const forged = good.slice();
    forged[forged.length - 1] ^= 1;
    expectError(await send(fragments(forged)), F.E_BAD_TAG);

    const replay = F.sealFrame(referenceAead, phone.pairKey, { type: F.T_PAYMENT, cardId: phone.issuer.cardId, seq: phone.seq - 1, expiry: p.expiry }, phone.issuer.payment(p));
    expectError(await send(fragments(replay)), F.E_OLD_SEQ);

    const other = F.sealFrame(referenceAead, phone.pairKey, { type: F.T_PAYMENT, cardId: (phone.issuer.cardId + 1) >>> 0 || 1, seq: phone.seq + 1, expiry: p.expiry }, phone.issuer.payment(p));
    expectError(await send(fragments(other)), F.E_WRONG_CARD);

    expectError(await send(fragments(good.subarray(0, 20))), F.E_TRUNCATED);

    const w = fragments(good);
    expectError(await send([w[0], w[2]]), F.E_ORDER);

    await sleep(500);
    const after = await rig.settle();
    expect(after.refreshes, "nothing was drawn").to.equal(glass.refreshes);
    expect(after.shown).to.equal(glass.shown);
    expect(flash().equals(image), "flash unchanged").to.equal(true);
    expect(rig.failures()).to.deep.equal([]);
  });
});
