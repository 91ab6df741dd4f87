/**
 * The random AEAD cases of test/card/aead-espruino.test.ts, made from one
 * seed the same way on the card and in Node (test/card/prng.ts): inputs of a
 * frame's sizes, and one bit to flip in the sealed bytes or the aad.
 */
import { xorshift } from "./prng";

export interface AeadCase {
  key: Uint8Array;
  nonce: Uint8Array;
  aad: Uint8Array;
  plaintext: Uint8Array;
  /** A bit of sealed || aad to flip: open must then give null. */
  flip: number;
}

export function aeadCases(seed: number): () => AeadCase {
  const r = xorshift(seed);
  return function (): AeadCase {
    const key = r.bytes(32);
    const nonce = r.bytes(12);
    const aad = r.bytes(r.int(3) ? 14 : r.int(40));
    const plaintext = r.bytes(r.int(4) ? r.int(200) : r.int(310));
    const flip = r.int((plaintext.length + 16 + aad.length) * 8);
    return { key: key, nonce: nonce, aad: aad, plaintext: plaintext, flip: flip };
  };
}
