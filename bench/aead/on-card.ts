/**
 * The program bench/aead.ts runs on the Espruino interpreter: a 160-byte frame
 * (14-byte header as associated data, 130-byte body, 16-byte tag) sealed and
 * opened with the card's AEAD (core/aead.ts over the native SHA-256) and
 * opened with the measured alternative (ChaCha20-Poly1305 in JavaScript,
 * chacha20poly1305.ts), a largest payment's two frames opened with the
 * card's, next to one HOTP-SHA1 code through core/otp.ts on the native hash,
 * and the payment's OCRA answer (challenge and response, core/ocra.ts on
 * native SHA-256), all in one run. Inputs are fixed bytes (no secret): the
 * bench checks the sealed frames against node:crypto and @noble/ciphers.
 *
 * Prints, one per line: "sealed <candidate> <hex>", then "<what> <ms>" for
 * every timed round, then "done".
 */
import { etmAead } from "../../firmware/core/aead.ts";
import { bytesToHex } from "../../firmware/core/bytes.ts";
import { ocra, PAYMENT_OCRA_SUITE, transactionChallenge } from "../../firmware/core/ocra.ts";
import { hotp } from "../../firmware/core/otp.ts";
import { boardHashes } from "../../firmware/hal/crypto.ts";
import { open as ccOpen, seal as ccSeal } from "./chacha20poly1305.ts";

declare function getTime(): number;
declare function print(...text: unknown[]): void;

const ROUNDS = 7;
const hashes = boardHashes(["SHA1", "SHA256"]);
const sha1 = hashes("SHA1");
const sha256 = hashes("SHA256");
if (!sha1 || !sha256) throw new Error("no native SHA1/SHA256");
const aead = etmAead(sha256);

function filled(n: number, a: number, b: number): Uint8Array {
  const x = new Uint8Array(n);
  for (let i = 0; i < n; i++) x[i] = (a * i + b) & 255;
  return x;
}
const key = filled(32, 7, 1);
const nonce = filled(12, 3, 5);
const aad = filled(14, 11, 2);
const body = filled(130, 5, 9);
const otpKey = filled(20, 13, 4);

const etm = aead.seal(key, nonce, aad, body);
const cc = ccSeal(key, nonce, aad, body);
// A largest payment (docs/dynamic-data.md, Limits): a 223-byte phone frame whose body
// holds the issuer's 193-byte envelope; the card opens both.
const envelope = aead.seal(key, nonce, aad, filled(193 - 14 - 16, 3, 7));
const outer = aead.seal(key, nonce, aad, filled(223 - 14 - 16, 9, 4));
print("sealed etm", bytesToHex(etm));
print("sealed chacha20poly1305", bytesToHex(cc));

function ms(t0: number): number {
  return Math.round((getTime() - t0) * 10000) / 10;
}

for (let r = 0; r < ROUNDS; r++) {
  let t = getTime();
  const code = hotp(sha1, otpKey, r, 6);
  print("hotp", ms(t), code.length);
  t = getTime();
  const b = aead.open(key, nonce, aad, etm);
  print("open-etm", ms(t), b ? b.length : -1);
  t = getTime();
  aead.seal(key, nonce, aad, body);
  print("seal-etm", ms(t));
  t = getTime();
  const a = ccOpen(key, nonce, aad, cc);
  print("open-chacha20poly1305", ms(t), a ? a.length : -1);
  t = getTime();
  const o1 = aead.open(key, nonce, aad, outer);
  const o2 = aead.open(key, nonce, aad, envelope);
  print("open-largest-payment", ms(t), o1 && o2 ? o1.length + o2.length : -1);
  // The press that confirms a payment: the challenge over what the screen showed, then the OCRA answer.
  t = getTime();
  const q = transactionChallenge(sha256, { txId: key.subarray(0, 16), amount: 12345, currency: "EUR", exponent: 2, payee: aad, details: body.subarray(0, 40) });
  const answer = ocra(sha256, PAYMENT_OCRA_SUITE, key, { question: q });
  print("answer-ocra", ms(t), answer.length);
}
print("done");
