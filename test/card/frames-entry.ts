/**
 * The card's side of test/card/frames-espruino.test.ts, bundled for the
 * Espruino interpreter and booted from Storage: derives the link keys from
 * the card key in Storage with the native SHA-256, runs each case of the
 * Storage file "fcases" through frames-driver.ts with the card's own AEAD
 * (core/aead.ts), and prints one line per case. Then it measures a largest
 * frame (the last case): Espruino variables in use (process.memory(false),
 * no garbage collection) before the reassembly buffer exists, once it does,
 * and the peak sampled after each write, around every AEAD call and hash,
 * and after the whole frame is opened and decoded.
 *
 * Storage "fsetup": card key length (1), card key, device id (16), epoch (u32).
 * Storage "fcases": cases back to back, each preceded by its length (u16).
 */
import { etmAead } from "../../firmware/core/aead.ts";
import { bytesToHex, readU32BE } from "../../firmware/core/bytes.ts";
import * as F from "../../firmware/core/frames.ts";
import { newReceived } from "../../firmware/core/inbox.ts";
import { deriveCardId, derivePairKey, deriveSealKey } from "../../firmware/core/pairing.ts";
import { newPaymentView } from "../../firmware/core/payment.ts";
import type { Hash } from "../../firmware/core/types.ts";
import { boardHashes } from "../../firmware/hal/crypto.ts";
import { type Rig, runCase } from "./frames-driver.ts";

declare const require: (m: string) => { [k: string]: (...a: unknown[]) => unknown };
declare const E: { toUint8Array(s: unknown): Uint8Array };
declare const process: { memory(gc: boolean): { usage: number } };
declare function getTime(): number;
declare function print(...a: unknown[]): void;

const S = require("Storage");
const crypto = require("crypto");
let peak = 0;
function sample(): void {
  const u = process.memory(false).usage;
  if (u > peak) peak = u;
}
const sha256: Hash = {
  name: "SHA256",
  blockLen: 64,
  outputLen: 32,
  digest: function (d: Uint8Array): Uint8Array {
    const h = new Uint8Array(crypto.SHA256(d) as ArrayBuffer);
    sample();
    return h;
  },
};
// The card's AEAD over the native SHA-256 as the firmware's hal/crypto.ts gives it (its parts digest).
const etm = etmAead(boardHashes(["SHA256"])("SHA256") as Hash);
const aead: F.Aead = {
  seal: etm.seal,
  open: function (k: Uint8Array, n: Uint8Array, a: Uint8Array, s: Uint8Array): Uint8Array | null {
    sample();
    const p = etm.open(k, n, a, s);
    sample();
    return p;
  },
};

const setup = E.toUint8Array(S.read("fsetup"));
const key = setup.subarray(1, 1 + setup[0]);
const dev = setup.subarray(1 + setup[0], 17 + setup[0]);
const epoch = readU32BE(setup, 17 + setup[0]);
const base0 = process.memory(false).usage;
const r = F.newReassembly();
const bufferVars = process.memory(false).usage - base0;
const rig: Rig = {
  aead: aead,
  cardId: deriveCardId(sha256, key),
  seal: deriveSealKey(sha256, key),
  pair: derivePairKey(sha256, key, dev, epoch),
  r: r,
  out: newReceived(),
  view: newPaymentView(),
  grant: { deviceId: new Uint8Array(0), epoch: 0 },
  sample: sample,
};
print("@keys " + rig.cardId.toString(16) + " " + bytesToHex(rig.seal) + " " + bytesToHex(rig.pair));

const total = (S.read("fcases") as unknown as string).length;
let off = 0;
let i = 0;
let last: Uint8Array | undefined;
while (off < total) {
  const head = E.toUint8Array(S.read("fcases", off, 2));
  const len = (head[0] << 8) | head[1];
  const c = E.toUint8Array(S.read("fcases", off + 2, len));
  off += 2 + len;
  if (off >= total) {
    last = c;
    break;
  }
  print("@case " + i++ + " " + runCase(rig, c));
}
// The largest frame, measured: no garbage collection from here on.
const c = last as Uint8Array;
const before = process.memory(false).usage;
peak = before;
const t0 = getTime();
const line = runCase(rig, c);
const ms = Math.round((getTime() - t0) * 1000);
print("@case " + i + " " + line);
print("@mem buffer " + bufferVars + " before " + before + " peak " + peak + " after " + process.memory(false).usage + " ms " + ms);
print("@end");
