/**
 * A stand-in for the card's link service, made of the core functions the
 * firmware uses (reassembly, inbox.receive, ACK/ERROR, sealFrame), bundled
 * as the card bundles code and flashed on a simulator board, so the relay
 * talks to it through the board's Bluetooth model (Central -> NRF onWrite,
 * updateServices -> notifications). Used until the firmware carries its own
 * link service. Keys come in through esbuild defines: the stub does not run
 * HKDF (it is handed K_seal and the K_pair of each epoch the test grants).
 *
 * Exposed as global.stub: confirm(), decline(), info() for the test.
 */
import { etmAead } from "../../firmware/core/aead";
import { hexToBytes } from "../../firmware/core/bytes";
import * as F from "../../firmware/core/frames";
import { newReceived, receive, type Link } from "../../firmware/core/inbox";
import { readGrant } from "../../firmware/core/pairing";
import { boardHashes } from "../../firmware/hal/crypto";

declare const STUB_CARD_ID: number;
declare const STUB_SEAL: string;
/** K_pair by epoch, hex, comma-separated: epoch 1 first. */
declare const STUB_PAIRS: string;
declare const STUB_ANSWER: string;
declare const NRF: { setServices(t: object, o: object): void; updateServices(t: object): void; on(e: string, f: (x: unknown) => void): void };
declare function getTime(): number;
declare const global: Record<string, unknown>;

const sha256 = boardHashes(["SHA256"])("SHA256");
if (!sha256) throw new Error("no native SHA256");
const aead = etmAead(sha256); // as the firmware will: over the board's native hash
const pairs = STUB_PAIRS.split(",");
const link: Link = { cardId: STUB_CARD_ID, seal: hexToBytes(STUB_SEAL), pair: null, lastSeq: 0, lastIssuerSeq: 0 };
let epoch = 0;
const reasm = F.newReassembly();
const rec = newReceived();
const grant = { deviceId: new Uint8Array(0), epoch: 0 };
let shownSeq = 0;
let answer: Uint8Array | null = null;
let fid = 0;
const log: string[] = [];

function notify(frame: Uint8Array): void {
  // The card cannot read the MTU: its notifications keep to 20 bytes.
  const frags = F.fragmentFrame(frame, F.DEFAULT_WRITE, fid++ & 3);
  for (let i = 0; i < frags.length; i++) {
    const u: Record<string, Record<string, object>> = {};
    u[F.LINK_SERVICE] = {};
    u[F.LINK_SERVICE][F.LINK_NOTIFY] = { value: frags[i], notify: true };
    NRF.updateServices(u);
  }
}

function refuse(frame: Uint8Array | null, code: number, detail: number): void {
  const known = frame !== null && frame.length >= F.HEADER_BYTES;
  log.push("E" + code);
  notify(F.encodeError(link.cardId, known ? ((frame[6] << 24) >>> 0) + (frame[7] << 16) + (frame[8] << 8) + frame[9] : 0, known ? ((frame[10] << 24) >>> 0) + (frame[11] << 16) + (frame[12] << 8) + frame[13] : 0, code, detail));
}

function onFrame(evt: { data: ArrayBuffer }): void {
  const r = F.pushFragment(reasm, new Uint8Array(evt.data));
  if (r === F.MORE) return;
  if (r !== F.COMPLETE) return refuse(null, r, r === F.E_ORDER ? reasm.next : 0);
  const frame = reasm.buf.slice(0, reasm.len);
  const code = receive(aead, link, frame, getTime(), rec);
  if (code !== F.OK && code !== F.DUPLICATE) return refuse(frame, code, 0);
  if (rec.type === F.T_HELLO) {
    const body = new Uint8Array(5);
    body[0] = F.MAX_WRITE;
    body[4] = epoch; // epochs stay small here
    notify(F.encodeFrame({ type: F.T_INFO, cardId: link.cardId, seq: 0, expiry: rec.expiry }, body));
    return;
  }
  if (rec.type === F.T_PAIR) {
    if (code === F.OK) {
      const g = readGrant(rec.body, epoch, grant);
      if (g !== F.OK) return refuse(frame, g, 0);
      epoch = grant.epoch;
      link.pair = hexToBytes(pairs[epoch - 1]);
      link.lastSeq = 0;
      link.lastIssuerSeq = rec.issuerSeq;
    }
    log.push("pair " + epoch);
    notify(F.encodeAck(rec, link.cardId));
    return;
  }
  if (rec.type === F.T_PAYMENT) {
    if (code === F.OK) {
      link.lastSeq = rec.seq;
      link.lastIssuerSeq = rec.issuerSeq;
      shownSeq = rec.seq;
      answer = null;
      log.push("payment " + rec.seq);
    } else log.push("duplicate " + rec.seq);
    notify(F.encodeAck(rec, link.cardId));
    // Asked again: the same answer bytes, never a new one.
    if (code === F.DUPLICATE && answer !== null && rec.seq === shownSeq) notify(answer);
    return;
  }
  refuse(frame, F.E_TYPE, 0);
}

function decide(body: Uint8Array): void {
  if (link.pair === null || shownSeq === 0 || answer !== null) return;
  answer = F.sealFrame(aead, link.pair, { type: F.T_ANSWER, cardId: link.cardId, seq: shownSeq, expiry: 0 }, body);
  notify(answer);
}

const table: Record<string, Record<string, object>> = {};
table[F.LINK_SERVICE] = {};
table[F.LINK_SERVICE][F.LINK_WRITE] = { writable: true, maxLen: F.MAX_WRITE, onWrite: onFrame };
table[F.LINK_SERVICE][F.LINK_NOTIFY] = { notify: true, maxLen: F.MAX_WRITE, value: [0] };
NRF.setServices(table, { uart: false });
NRF.on("connect", () => F.resetReassembly(reasm));
NRF.on("disconnect", () => F.resetReassembly(reasm));

global.stub = {
  confirm: () => {
    const b = new Uint8Array(STUB_ANSWER.length);
    for (let i = 0; i < b.length; i++) b[i] = STUB_ANSWER.charCodeAt(i);
    decide(b);
  },
  decline: () => decide(new Uint8Array(0)),
  info: () => JSON.stringify({ epoch, lastSeq: link.lastSeq, lastIssuerSeq: link.lastIssuerSeq, shownSeq, answered: answer !== null, log }),
};
