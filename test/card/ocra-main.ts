/**
 * The program test/card/ocra-espruino.test.ts runs on the interpreter: the
 * RFC 6287 vectors it is given (INKCARD_OCRA: the SHA-1 and SHA-256 suites,
 * the hashes the card has natively), then the product's answer for one
 * transaction (INKCARD_TX). Prints
 *   start
 *   R <suite> <i> <response>     per vector case
 *   Q <challenge hex>            the transaction's challenge
 *   A <answer> <ms>              its answer, and how long challenge and answer took
 *   done
 */
import { hexToBytes } from "../../firmware/core/bytes";
import { ocra, parseOcraSuite, PAYMENT_OCRA_SUITE, transactionChallenge } from "../../firmware/core/ocra";
import type { HashName } from "../../firmware/core/types";
import { boardHashes } from "../../firmware/hal/crypto";

declare function print(...text: unknown[]): void;
declare function getTime(): number;
declare const INKCARD_OCRA: Array<{ suite: string; key: string; pin: string; cases: Array<{ q: string; c?: number; t?: number }> }>;
declare const INKCARD_TX: { txId: string; amount: number; currency: string; exponent: number; payee: string; details: string; key: string };

const hashes = boardHashes(["SHA1", "SHA256"]);

function hashFor(name: HashName) {
  const h = hashes(name);
  if (!h) throw new Error("no native " + name);
  return h;
}

function vectors(): void {
  const all = INKCARD_OCRA;
  for (let v = 0; v < all.length; v++) {
    const s = parseOcraSuite(all[v].suite);
    const key = hexToBytes(all[v].key);
    const pin = hexToBytes(all[v].pin);
    for (let i = 0; i < all[v].cases.length; i++) {
      const c = all[v].cases[i];
      print("R", s.text, i, ocra(hashFor(s.hash), s, key, { question: c.q, counter: c.c, time: c.t, pinHash: pin }));
    }
  }
}

function answer(): void {
  const tx = INKCARD_TX;
  const t0 = getTime();
  const sha256 = hashFor("SHA256");
  const q = transactionChallenge(sha256, {
    txId: hexToBytes(tx.txId), amount: tx.amount, currency: tx.currency, exponent: tx.exponent,
    payee: hexToBytes(tx.payee), details: hexToBytes(tx.details),
  });
  const a = ocra(sha256, PAYMENT_OCRA_SUITE, hexToBytes(tx.key), { question: q });
  const ms = (getTime() - t0) * 1000;
  print("Q", q);
  print("A", a, Math.round(ms));
}

print("start");
vectors();
answer();
print("done");
