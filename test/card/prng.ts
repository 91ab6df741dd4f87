/**
 * xorshift32: the same inputs on the card and in Node from one seed, so a
 * cross-check on the interpreter needs no data sent in (the program's text is
 * all it gets, and the 2,630-variable build has little room for cases).
 * Espruino-safe: 32-bit ints via >>> 0 and shifts only. Not for secrets.
 */
export function xorshift(seed: number): { u32(): number; int(n: number): number; bytes(n: number): Uint8Array } {
  let x = seed >>> 0 || 1;
  function u32(): number {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x = x >>> 0;
    return x;
  }
  return {
    u32: u32,
    /** Integer in [0, n), n <= 2^16 (the slight bias does not matter here). */
    int: function (n: number): number {
      return (u32() >>> 16) % n;
    },
    bytes: function (n: number): Uint8Array {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = u32() & 255;
      return b;
    },
  };
}
