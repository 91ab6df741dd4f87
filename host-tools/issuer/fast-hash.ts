/**
 * The core Hash interface over node:crypto's one-shot hash(): same results
 * as host-tools/lib/hash.ts (noble; test/issuer/fast-hash.test.ts compares
 * them) at several times the speed, which the verify path needs.
 */
import { hash as oneShot } from "node:crypto";
import type { Hash, HashName } from "../../firmware/core/types.ts";

const SIZES: Record<HashName, [node: string, blockLen: number, outputLen: number]> = {
  SHA1: ["sha1", 64, 20],
  SHA256: ["sha256", 64, 32],
  SHA512: ["sha512", 128, 64],
};

const cache = new Map<HashName, Hash>();

export function fastHash(name: HashName): Hash {
  const cached = cache.get(name);
  if (cached) return cached;
  if (!Object.hasOwn(SIZES, name)) throw new Error(`unknown hash ${String(name)} (SHA1, SHA256 or SHA512)`);
  const [node, blockLen, outputLen] = SIZES[name];
  const h: Hash = Object.freeze({
    name,
    blockLen,
    outputLen,
    digest(data: Uint8Array): Uint8Array {
      const b = oneShot(node, data, "buffer") as unknown as Buffer;
      return new Uint8Array(b.buffer, b.byteOffset, b.length);
    },
  });
  cache.set(name, h);
  return h;
}
