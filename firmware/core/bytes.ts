/**
 * Byte helpers for the code engine and its neighbours.
 *
 * Espruino-safe: plain loops over typed arrays, no Array.from, no
 * TextEncoder, no prototype methods beyond Uint8Array#set/#subarray.
 * Errors name the problem and its position, never the data (it may be a key).
 */

/** Throws unless x is a Uint8Array (a Node Buffer is one too). */
export function checkBytes(x: unknown, what: string): void {
  if (!(x instanceof Uint8Array)) throw new Error(what + " must be a Uint8Array");
}

/** True when n is an integer in [min, max]: Number.isInteger does not exist on Espruino. */
export function isIntIn(n: unknown, min: number, max: number): boolean {
  return typeof n === "number" && Math.floor(n) === n && n >= min && n <= max;
}

const HEX = "0123456789abcdef";

/** Lower-case hex of bytes. */
export function bytesToHex(bytes: Uint8Array): string {
  checkBytes(bytes, "bytes");
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
  return s;
}

/** Value of one hex digit (either case), or -1. */
function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  c |= 32; // fold A-F onto a-f
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

/** Strict hex decode: even length, digits only (no prefix, no spaces). */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== "string") throw new Error("hex must be a string");
  if (hex.length % 2) throw new Error("hex must have an even number of digits");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(hex.charCodeAt(2 * i));
    const lo = nibble(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new Error("hex has a non-hex character near index " + 2 * i);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Bytes of an ASCII string (the protocol's labels): a character above 127 is an error. */
export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) throw new Error("label must be ASCII");
    out[i] = c;
  }
  return out;
}

/**
 * UTF-8 bytes of a short string (ASCII gives one byte per character).
 * Takes UTF-16 surrogate pairs (Node) and whole code points (Espruino's
 * unicode strings); a lone surrogate is an error.
 */
export function utf8Bytes(s: string): Uint8Array {
  if (typeof s !== "string") throw new Error("text must be a string");
  const tmp = new Uint8Array(s.length * 4); // worst case; trimmed below
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) throw new Error("text has a lone surrogate at index " + i);
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i++;
    }
    if (c < 0x80) {
      tmp[n++] = c;
    } else if (c < 0x800) {
      tmp[n++] = 0xc0 | (c >> 6);
      tmp[n++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      tmp[n++] = 0xe0 | (c >> 12);
      tmp[n++] = 0x80 | ((c >> 6) & 63);
      tmp[n++] = 0x80 | (c & 63);
    } else {
      tmp[n++] = 0xf0 | (c >> 18);
      tmp[n++] = 0x80 | ((c >> 12) & 63);
      tmp[n++] = 0x80 | ((c >> 6) & 63);
      tmp[n++] = 0x80 | (c & 63);
    }
  }
  if (n === tmp.length) return tmp;
  const out = new Uint8Array(n);
  out.set(tmp.subarray(0, n));
  return out;
}

/** One new array holding parts in order. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (let i = 0; i < parts.length; i++) {
    checkBytes(parts[i], "part " + i);
    len += parts[i].length;
  }
  const out = new Uint8Array(len);
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], off);
    off += parts[i].length;
  }
  return out;
}

/**
 * Equality in time that depends only on the lengths, never on where the
 * first difference is: use it to compare codes, MACs and keys.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  checkBytes(a, "a");
  checkBytes(b, "b");
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Overwrite with zeros (keys and pads once used). */
export function wipe(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = 0;
}

/** Big-endian uint32 at off, as a non-negative number. */
export function readU32BE(bytes: Uint8Array, off: number): number {
  checkBytes(bytes, "bytes");
  if (!isIntIn(off, 0, bytes.length - 4)) throw new Error("readU32BE: offset out of range");
  // Multiply the top byte instead of shifting it: << 24 would go negative.
  return bytes[off] * 0x1000000 + ((bytes[off + 1] << 16) | (bytes[off + 2] << 8) | bytes[off + 3]);
}

/**
 * Write value (an integer 0..2^32-1) big-endian at off. Splits into 16-bit
 * halves with arithmetic first, so no bitwise operator ever sees a number
 * above 2^31 (Espruino's int conversion of such doubles is not to be trusted).
 */
export function writeU32BE(bytes: Uint8Array, off: number, value: number): void {
  checkBytes(bytes, "bytes");
  if (!isIntIn(off, 0, bytes.length - 4)) throw new Error("writeU32BE: offset out of range");
  if (!isIntIn(value, 0, 0xffffffff)) throw new Error("writeU32BE: value must be an integer 0..2^32-1");
  const hi = Math.floor(value / 0x10000);
  const lo = value - hi * 0x10000;
  bytes[off] = hi >> 8;
  bytes[off + 1] = hi & 255;
  bytes[off + 2] = lo >> 8;
  bytes[off + 3] = lo & 255;
}
