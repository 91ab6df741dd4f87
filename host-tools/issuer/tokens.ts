/**
 * API bearer tokens. A token is "ink_" and 32 random bytes in base64url; the
 * store keeps only its SHA-256, so a copy of the database lets no one call
 * the API. Lookups go by that hash, so no comparison depends on the token.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Store } from "./store/types.ts";

const FORMAT = /^ink_[A-Za-z0-9_-]{43}$/;
/** A token found in the store is trusted from this process's cache this long. */
const CACHE_MS = 60_000;
const CACHE_MAX = 10_000;

const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** Creates and stores a token; the returned string is the only copy of it. */
export async function createToken(store: Store, label: string, nowMs: number): Promise<string> {
  if (!/^[ -~]{1,64}$/.test(label)) throw new Error("token label must be 1 to 64 printable ASCII characters");
  const token = "ink_" + randomBytes(32).toString("base64url");
  await store.insertToken({ id: "tok_" + randomBytes(6).toString("hex"), hash: sha256Hex(token), label, createdAt: nowMs });
  return token;
}

export class TokenCheck {
  private readonly cache = new Map<string, { id: string; until: number }>();

  constructor(private readonly store: Store) {}

  /** The id of the token, or undefined when it is not a valid token. */
  async callerOf(token: string): Promise<string | undefined> {
    if (!FORMAT.test(token)) return undefined;
    const hash = sha256Hex(token);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.id;
    const rec = await this.store.findToken(hash);
    if (!rec) return undefined;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { id: rec.id, until: now + CACHE_MS });
    return rec.id;
  }
}
