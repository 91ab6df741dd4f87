/**
 * One case of the transport as the card meets it, written once and run both
 * in Node and on the Espruino interpreter (test/card/frames-entry.ts): writes
 * go through the flood guard and the reassembler, a whole frame through the
 * card's opener, a payment through the decoder, and a line sums up every
 * result. frames-espruino.test.ts compares the card's lines with Node's.
 * Espruino-safe (it is bundled for the card): no Node API, no spread.
 *
 * A case, as Node packs it (integers big-endian):
 *   0  1  flags: bit 0 paired (else the link has no pairing key)
 *   1  4  now (Unix seconds)
 *   5  4  lastSeq
 *   9  4  lastIssuerSeq
 *   13 1  n = number of writes, then n times: 1 byte length, the write
 */
import type { Aead } from "../../firmware/core/aead.ts";
import { bytesToHex, readU32BE } from "../../firmware/core/bytes.ts";
import * as F from "../../firmware/core/frames.ts";
import { type Link, type Received, receive } from "../../firmware/core/inbox.ts";
import { type Grant, readGrant } from "../../firmware/core/pairing.ts";
import { type PaymentView, decodePayment, formatAmount, panelText } from "../../firmware/core/payment.ts";

/** Everything a run keeps: allocated once, as the card would. */
export interface Rig {
  aead: Aead;
  /** Keys as the card derived them; pair is used when a case says "paired". */
  cardId: number;
  seal: Uint8Array;
  pair: Uint8Array;
  r: F.Reassembly;
  out: Received;
  view: PaymentView;
  grant: Grant;
  /** Called after each write and each whole frame (the memory probe on the card). */
  sample: () => void;
}

export function packCase(paired: boolean, now: number, lastSeq: number, lastIssuerSeq: number, writes: Uint8Array[]): Uint8Array {
  let n = 14;
  for (let i = 0; i < writes.length; i++) n += 1 + writes[i].length;
  const b = new Uint8Array(n);
  b[0] = paired ? 1 : 0;
  const dv = new DataView(b.buffer);
  dv.setUint32(1, now);
  dv.setUint32(5, lastSeq);
  dv.setUint32(9, lastIssuerSeq);
  b[13] = writes.length;
  let off = 14;
  for (let i = 0; i < writes.length; i++) {
    b[off++] = writes[i].length;
    b.set(writes[i], off);
    off += writes[i].length;
  }
  return b;
}

/** Run one packed case; the line of results. */
export function runCase(rig: Rig, c: Uint8Array): string {
  const now = readU32BE(c, 1);
  const link: Link = { cardId: rig.cardId, seal: rig.seal, pair: c[0] & 1 ? rig.pair : null, lastSeq: readU32BE(c, 5), lastIssuerSeq: readU32BE(c, 9) };
  const guard = F.newFloodGuard(now);
  F.resetReassembly(rig.r);
  let line = "w";
  let off = 14;
  for (let i = 0; i < c[13]; i++) {
    const len = c[off];
    const w = c.subarray(off + 1, off + 1 + len);
    off += 1 + len;
    let code = F.floodSpend(guard, now, 1) ? F.pushFragment(rig.r, w) : F.E_FLOOD;
    rig.sample();
    line += " " + code;
    if (code !== F.COMPLETE) continue;
    code = receive(rig.aead, link, rig.r.buf.subarray(0, rig.r.len), now, rig.out);
    rig.sample();
    if (code !== F.OK && code !== F.DUPLICATE) F.floodSpend(guard, now, F.REFUSED_COST);
    line += " | f " + code;
    if (code !== F.OK) continue;
    const o = rig.out;
    line += " t" + o.type + " s" + o.seq + " i" + o.issuerSeq + " e" + o.expiry + "/" + o.issuerExpiry;
    if (o.type === F.T_PAYMENT) {
      const p = decodePayment(o.body, rig.view);
      line += " p " + p;
      const v = rig.view;
      if (p === F.OK) {
        line += " " + v.code + " " + formatAmount(v.amount, v.exponent) + " " + v.currency + " [" + panelText(v.payee) + "] [" + panelText(v.details) + "] " + bytesToHex(v.txId) + " " + v.expiry;
      }
    } else if (o.type === F.T_PAIR) {
      const g = readGrant(o.body, 0, rig.grant);
      line += " g " + g + (g === F.OK ? " " + bytesToHex(rig.grant.deviceId) + " " + rig.grant.epoch : "");
    } else {
      line += " b " + bytesToHex(o.body);
    }
  }
  return line + " | r " + rig.r.len + "/" + rig.r.next + "/" + rig.r.fid;
}
