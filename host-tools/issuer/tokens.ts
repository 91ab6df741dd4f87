/**
 * API bearer tokens. A token is "ink_" and 32 random bytes in base64url; the
 * store keeps only its SHA-256, so a copy of the database lets no one call
 * the API. Lookups go by that hash, so no comparison depends on the token.
 *
 * Each token has a role (store/types.ts Role; http.ts checks it per route).
 * A revoke (`inkcard issuer token revoke`, usually another process) holds
 * from the next request in every issuer process. On SQLite a lookup is
 * cached while the store's tokenEpoch stays the same (PRAGMA data_version,
 * which another connection's commit changes, read once per turn of the
 * event loop): an uncached lookup costs about 8 µs here, a tenth of an
 * HTTP request's CPU; a cached one a Map lookup. On PostgreSQL every request
 * looks its token up (one indexed query).
 */
import { createHash, randomBytes } from "node:crypto";
import { ROLES, type Role, type Store, type TokenRecord } from "./store/types.ts";

const FORMAT = /^ink_[A-Za-z0-9_-]{43}$/;
const CACHE_MAX = 10_000;
export const TOKEN_ID = /^tok_[0-9a-f]{12}$/;

const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** Creates and stores a token; the returned string is the only copy of it. */
export async function createToken(store: Store, label: string, role: Role, nowMs: number): Promise<string> {
  if (!/^[ -~]{1,64}$/.test(label)) throw new Error("token label must be 1 to 64 printable ASCII characters");
  if (!ROLES.includes(role)) throw new Error(`token role must be one of ${ROLES.join(", ")}`);
  const token = "ink_" + randomBytes(32).toString("base64url");
  await store.insertToken({ id: "tok_" + randomBytes(6).toString("hex"), hash: sha256Hex(token), label, role, createdAt: nowMs });
  return token;
}

/** A token as `token list` shows it: no hash, no secret. */
export interface TokenView {
  id: string;
  label: string;
  role: Role;
  created: string;
}

export async function listTokens(store: Store): Promise<TokenView[]> {
  return (await store.listTokens()).map((t) => ({ id: t.id, label: t.label, role: t.role, created: new Date(t.createdAt).toISOString() }));
}

/** Who a request's token is, if it is valid now. */
export class TokenCheck {
  private readonly cache = new Map<string, { id: string; role: Role; epoch: number }>();

  constructor(private readonly store: Store) {}

  async callerOf(token: string): Promise<Pick<TokenRecord, "id" | "role"> | undefined> {
    if (!FORMAT.test(token)) return undefined;
    const hash = sha256Hex(token);
    // Read before the lookup: a revoke between the two changes it, and the entry is not trusted again.
    const epoch = this.store.tokenEpoch?.();
    if (epoch !== undefined) {
      const hit = this.cache.get(hash);
      if (hit && hit.epoch === epoch) return hit;
    }
    const rec = await this.store.findToken(hash);
    if (!rec) return undefined;
    const caller = { id: rec.id, role: rec.role };
    if (epoch !== undefined) {
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(hash, { ...caller, epoch });
    }
    return caller;
  }
}
