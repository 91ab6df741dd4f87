/**
 * core's Hash over Espruino's native require("crypto"), for the hashes this
 * board has (BOARD.hashes, and only those the firmware finds: SHA512 is
 * missing on most nRF52 builds). Each digest is a fresh Uint8Array.
 */
import type { Hash, HashName } from "../core/types";

const crypto = require("crypto");

const SIZES: { [name: string]: number[] } = { SHA1: [64, 20], SHA256: [64, 32], SHA512: [128, 64] };

function make(name: HashName): Hash | undefined {
  // Read the native function from the module object and call it as a method.
  if (typeof crypto[name] !== "function") return undefined;
  return {
    name: name,
    blockLen: SIZES[name][0],
    outputLen: SIZES[name][1],
    digest: function (data: Uint8Array): Uint8Array {
      return new Uint8Array((crypto[name] as (d: Uint8Array) => ArrayBuffer)(data));
    },
  };
}

/** A lookup over the hashes wanted (made once, here, not per call). */
export function boardHashes(wanted: HashName[]): (name: HashName) => Hash | undefined {
  const found: { [name: string]: Hash | undefined } = {};
  for (let i = 0; i < wanted.length; i++) found[wanted[i]] = make(wanted[i]);
  return function (name: HashName): Hash | undefined {
    return found[name];
  };
}
