/**
 * The phone's side of the Bluetooth link against the firmware on the
 * interpreter's press rig (press-rig.ts: NRF stubbed, WRITE(b64) is one write
 * to the card's service, NRF.N the notifications): frames built with
 * frames.ts over the AEAD's node:crypto reference, and the issuer of
 * test/support/link-issuer.ts (node:crypto alone). For the link's tests on
 * the interpreter and bench/memory.ts.
 */
import { randomBytes } from "node:crypto";
import * as F from "../../firmware/core/frames.ts";
import type { Payment } from "../../firmware/core/payment.ts";
import { referenceAead } from "../core/etm-reference.ts";
import { LinkIssuer } from "../support/link-issuer.ts";
import type { PressRig } from "./press-rig.ts";

export class LinkDriver {
  readonly device = randomBytes(16);
  readonly pairKey: Uint8Array;
  /** The phone's frame sequence number: the last one sent. */
  seq = 0;
  private fid = 0;
  private asked = 0;

  private constructor(
    readonly rig: PressRig,
    readonly issuer: LinkIssuer,
  ) {
    this.pairKey = issuer.pairKey(this.device, 1);
  }

  /** An issuer for the rig's card, its clock at the card's. */
  static async start(rig: PressRig): Promise<LinkDriver> {
    const now = (await rig.ask(["Math.floor(getTime())"]))[0];
    return new LinkDriver(rig, new LinkIssuer(rig.cardKey(), now));
  }

  /** Notifications since the last call, as the card's frames (reassembled here). */
  async answers(): Promise<Uint8Array[]> {
    const tag = `@n${++this.asked}`;
    const r = this.rig.interpreter;
    const from = r.output.length;
    r.send(`\x10print(${JSON.stringify(tag)}+" "+NRF.N.join(" "));NRF.N=[];`);
    const m = await r.waitFor(new RegExp(`${tag} ([A-Za-z0-9+/= ]*)\n`), 60_000, from);
    const frames: Uint8Array[] = [];
    const reasm = F.newReassembly();
    for (const b64 of m[1].split(" ").filter(Boolean)) {
      if (F.pushFragment(reasm, new Uint8Array(Buffer.from(b64, "base64"))) === F.COMPLETE) frames.push(reasm.buf.slice(0, reasm.len));
    }
    return frames;
  }

  /** Each write in one console line, in order; then the card's answers. */
  async send(writes: Uint8Array[]): Promise<Uint8Array[]> {
    for (const w of writes) this.rig.interpreter.send(`\x10WRITE(${JSON.stringify(Buffer.from(w).toString("base64"))})`);
    return this.answers();
  }

  /** A frame's writes of 20 bytes (the size before the phone knows better), each frame its own id. */
  fragments(frame: Uint8Array): Uint8Array[] {
    return F.fragmentFrame(frame, F.DEFAULT_WRITE, this.fid++ & 3);
  }

  /** HELLO, then PAIR with the issuer's grant; throws unless the card answers INFO, then ACK. */
  async pair(): Promise<void> {
    const info = await this.send(this.fragments(F.encodeFrame({ type: F.T_HELLO, cardId: 0, seq: 0, expiry: this.issuer.t0 + 60 }, new Uint8Array(0))));
    if (info.length !== 1 || header(info[0]).type !== F.T_INFO) throw new Error("the card did not answer HELLO with INFO");
    const grant = this.issuer.grant(this.device, 1);
    const acks = await this.send(this.fragments(F.encodeFrame({ type: F.T_PAIR, cardId: this.issuer.cardId, seq: 0, expiry: header(grant).expiry }, grant)));
    if (acks.length !== 1 || header(acks[0]).type !== F.T_ACK) throw new Error("the card did not take the pairing");
  }

  /** A payment as an issuer would send it, expiring ten minutes after the issuer's clock. */
  payment(): Payment {
    const t = this.issuer.t0;
    return { code: "5501234", amount: 4250, currency: "EUR", exponent: 2, payee: "Corner Books", details: "Order 1187", expiry: t + 600, txId: randomBytes(16) };
  }

  /** The phone's PAYMENT frame for p, at the next sequence number. */
  paymentFrame(p: Payment): Uint8Array {
    return F.sealFrame(referenceAead, this.pairKey, { type: F.T_PAYMENT, cardId: this.issuer.cardId, seq: ++this.seq, expiry: p.expiry }, this.issuer.payment(p));
  }
}

/** A frame's header (and body); throws on a frame that does not read. */
export function header(frame: Uint8Array): F.Frame {
  const f = F.newFrame();
  if (F.readFrame(frame, f) !== F.OK) throw new Error("the card sent a frame that does not read");
  return f;
}
