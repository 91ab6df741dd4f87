/**
 * The host side's Hash (firmware/core/types.ts) on @noble/hashes, so the
 * issuer, provisioning tools and tests run the same core code as the card.
 */
import { sha1 } from "@noble/hashes/legacy.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import type { Hash, HashName } from "../../firmware/core/types.ts";

const IMPLS = { SHA1: sha1, SHA256: sha256, SHA512: sha512 } as const;

const cache: Partial<Record<HashName, Hash>> = {};

export function nodeHash(name: HashName): Hash {
  const cached = cache[name];
  if (cached) return cached;
  if (!Object.hasOwn(IMPLS, name)) throw new Error(`unknown hash ${String(name)} (SHA1, SHA256 or SHA512)`);
  const impl = IMPLS[name];
  const hash: Hash = Object.freeze({
    name,
    blockLen: impl.blockLen,
    outputLen: impl.outputLen,
    digest: (data: Uint8Array) => impl(data),
  });
  cache[name] = hash;
  return hash;
}
