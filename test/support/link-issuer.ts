/**
 * The issuer's side of the Bluetooth link (docs/dynamic-data.md), for tests
 * of the card: keys, grant and payment envelopes, and the answer it expects,
 * from the card key K alone, on node:crypto (HKDF, HMAC, SHA-256) and the
 * AEAD's reference (test/core/etm-reference.ts): independent of the card's
 * code but for the frame layout (frames.ts sealFrame over the reference).
 */
import { createHash, createHmac, hkdfSync } from "node:crypto";
import * as F from "../../firmware/core/frames.ts";
import { LINK_SALT, encodeGrant } from "../../firmware/core/pairing.ts";
import { encodePayment, type Payment } from "../../firmware/core/payment.ts";
import { referenceAead } from "../core/etm-reference.ts";

/** The issuer's side, from the card key K alone (docs/dynamic-data.md "Keys", "Transaction-bound answer"). */
export class LinkIssuer {
  readonly k0 = new Uint8Array(64);
  seq = 0;
  /** key: the card's HMAC key K (at most 64 bytes); t0: Unix seconds, the grant's expiry is an hour after. */
  constructor(
    key: Uint8Array,
    readonly t0: number,
  ) {
    this.k0.set(key);
  }
  derive(info: Uint8Array | string, n: number): Uint8Array {
    return new Uint8Array(hkdfSync("sha256", this.k0, LINK_SALT, typeof info === "string" ? Buffer.from(info) : info, n));
  }
  get cardId(): number {
    return Buffer.from(this.derive("card-id", 4)).readUInt32BE(0) || 1;
  }
  pairKey(deviceId: Uint8Array, epoch: number): Uint8Array {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(epoch);
    return this.derive(Buffer.concat([Buffer.from("pair"), deviceId, e]), 32);
  }
  grant(deviceId: Uint8Array, epoch: number): Uint8Array {
    return F.sealFrame(referenceAead, this.derive("seal", 32), { type: F.T_GRANT, cardId: this.cardId, seq: ++this.seq, expiry: this.t0 + 3600 }, encodeGrant(deviceId, epoch));
  }
  payment(p: Payment): Uint8Array {
    return F.sealFrame(referenceAead, this.derive("seal", 32), { type: F.T_PAYMENT_DATA, cardId: this.cardId, seq: ++this.seq, expiry: p.expiry }, encodePayment(p));
  }
  /** R = OCRA-1:HOTP-SHA256-8:QH64 over Q = SHA-256 of what the screen showed. */
  answer(p: Payment): string {
    const text = (s: string) => {
      const b = Buffer.from(s, "utf8");
      return Buffer.concat([Buffer.from([b.length]), b]);
    };
    const amount = Buffer.alloc(6);
    amount.writeUIntBE(p.amount, 0, 6);
    const q = createHash("sha256")
      .update(Buffer.concat([Buffer.from("inkcard/answer/v1\0"), p.txId, amount, Buffer.from(p.currency), Buffer.from([p.exponent]), text(p.payee), text(p.details)]))
      .digest();
    const suite = Buffer.from("OCRA-1:HOTP-SHA256-8:QH64");
    const msg = Buffer.concat([suite, Buffer.from([0]), q, Buffer.alloc(128 - q.length)]);
    const mac = createHmac("sha256", this.derive("answer", 32)).update(msg).digest();
    const o = mac[mac.length - 1] & 15;
    return String((mac.readUInt32BE(o) & 0x7fffffff) % 1e8).padStart(8, "0");
  }
}
