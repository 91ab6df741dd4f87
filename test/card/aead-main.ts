/**
 * The program test/card/aead-espruino.test.ts runs on the interpreter: the
 * documented vectors of inkcard/etm/v1 (given in through INKCARD_VECTORS), over
 * the native SHA-256 as the card's firmware uses it (hal/crypto.ts), then INKCARD_CASES
 * random cases from INKCARD_SEED (test/card/aead-cases.ts). Prints
 *   start
 *   V <name> ok|<what it computed>     per vector
 *   S <i> <sealed hex>                 per case, for Node to compare
 *   O <i> 1|0                          open gave the plaintext back
 *   T <i> 1|0                          open of the case with one bit flipped gave null
 *   M <free variables>                 after each case
 *   done
 */
import { etmAead } from "../../firmware/core/aead";
import { bytesToHex, equalBytes, hexToBytes } from "../../firmware/core/bytes";
import { boardHashes } from "../../firmware/hal/crypto";
import { aeadCases, type AeadCase } from "./aead-cases";

declare function print(...text: unknown[]): void;
declare const process: { memory(): { free: number } };
declare const INKCARD_VECTORS: Array<{ name: string; key: string; nonce: string; aad: string; plaintext: string; sealed: string }>;
declare const INKCARD_SEED: number;
declare const INKCARD_CASES: number;

function report(name: string, got: Uint8Array | null, want: string): void {
  const h = got ? bytesToHex(got) : "null";
  print("V", name, h === want ? "ok" : h);
}

const sha256 = boardHashes(["SHA256"])("SHA256");
if (!sha256) throw new Error("no native SHA256");
const aead = etmAead(sha256);
const seal = aead.seal;
const open = aead.open;

function vectors(): void {
  const v = INKCARD_VECTORS;
  for (let i = 0; i < v.length; i++) {
    const a = v[i];
    const key = hexToBytes(a.key), nonce = hexToBytes(a.nonce), aad = hexToBytes(a.aad);
    report("seal " + a.name, seal(key, nonce, aad, hexToBytes(a.plaintext)), a.sealed);
    report("open " + a.name, open(key, nonce, aad, hexToBytes(a.sealed)), a.plaintext);
  }
}

/** One case; its variables are gone when it returns, so M after it counts only what stays. */
function one(i: number, next: () => AeadCase): void {
  const c = next();
  const sealed = seal(c.key, c.nonce, c.aad, c.plaintext);
  print("S", i, bytesToHex(sealed));
  const back = open(c.key, c.nonce, c.aad, sealed);
  print("O", i, back && equalBytes(back, c.plaintext) ? 1 : 0);
  const n = sealed.length * 8;
  if (c.flip < n) sealed[c.flip >> 3] ^= 1 << (c.flip & 7);
  else c.aad[(c.flip - n) >> 3] ^= 1 << ((c.flip - n) & 7);
  print("T", i, open(c.key, c.nonce, c.aad, sealed) === null ? 1 : 0);
}

function cases(): void {
  const next = aeadCases(INKCARD_SEED);
  for (let i = 0; i < INKCARD_CASES; i++) {
    one(i, next);
    print("M", process.memory().free);
  }
}

print("start"); // its own line: what comes before it on the console is not the program's
vectors();
cases();
print("done");
