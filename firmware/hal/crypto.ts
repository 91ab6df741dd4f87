/**
 * core's Hash over Espruino's native require("crypto"), for the hashes this
 * board has (BOARD.hashes, and only those the firmware finds: SHA512 is
 * missing on most nRF52 builds). Each digest is a fresh Uint8Array; the
 * press's parts digest (PartsHash, core/hmac.ts) is the native function.
 *
 * A Hash is made at each lookup and dropped after use rather than kept:
 * a press looks up a few, and the card holds none between presses.
 */
import type { HashName } from "../core/types";
import type { PartsHash } from "../core/hmac";

const crypto = require("crypto");

function make(name: HashName): PartsHash | undefined {
  // Read the native function from the module object and call it as a method.
  if (typeof crypto[name] !== "function") return undefined;
  return {
    // The native function itself, no wrapper: it hashes an array of parts as
    // if joined (core/otp.ts padOtp), and its ArrayBuffer indexes as bytes.
    digestParts: crypto[name] as unknown as (parts: Array<Uint8Array | ArrayBuffer>) => Uint8Array,
    name: name,
    blockLen: name === "SHA512" ? 128 : 64,
    outputLen: name === "SHA1" ? 20 : name === "SHA256" ? 32 : 64,
    digest: function (data: Uint8Array): Uint8Array {
      return new Uint8Array((crypto[name] as (d: Uint8Array) => ArrayBuffer)(data));
    },
  };
}

/** A lookup over the hashes wanted: undefined for any other, or one the firmware lacks. */
export function boardHashes(wanted: HashName[]): (name: HashName) => PartsHash | undefined {
  return function (name: HashName): PartsHash | undefined {
    return wanted.indexOf(name) >= 0 ? make(name) : undefined;
  };
}
