/**
 * startIssuer: the whole service (store, keys, HTTP) in one call, for the
 * `inkcard issuer` command and for programs that embed an issuer (the
 * simulator issues its demo card through it and the real HTTP API).
 */
import { checkMasterKey, DerivedKeys, type KeySource } from "./keys.ts";
import { buildApp } from "./http.ts";
import type { Policy } from "./policy.ts";
import { applyRestoreRule } from "./restore.ts";
import { Issuer } from "./service.ts";
import type { Role } from "./store/types.ts";
import { openStore } from "./store/open.ts";
import { registerIssuance } from "./issuance.ts";

export interface StartOptions {
  /** An SQLite file name or a postgres:// URL. */
  db: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port?: number;
  /** The 32-byte master key; or `keys`, another source of card keys. */
  masterKey?: Uint8Array;
  keys?: KeySource;
  policy?: Partial<Policy>;
  /** Milliseconds since 1970 (tests inject a clock). */
  now?: () => number;
  logLevel?: string;
  /** SQLite durability; see SqliteOptions. */
  synchronous?: "FULL" | "NORMAL";
  bin?: string;
  /** Make a new database when `db` holds none (default true; the command line passes --create). */
  create?: boolean;
}

export interface RunningIssuer {
  /** Base URL, e.g. http://127.0.0.1:8470 */
  url: string;
  issuer: Issuer;
  /** A new API token for this issuer (printed nowhere); an admin token unless `role` says otherwise. */
  createToken(label?: string, role?: Role): Promise<string>;
  close(): Promise<void>;
}

export const HOST = "127.0.0.1";
export const DEFAULT_PORT = 8470;

export async function startIssuer(o: StartOptions): Promise<RunningIssuer> {
  const keys = o.keys ?? (o.masterKey ? new DerivedKeys(o.masterKey) : undefined);
  if (!keys) throw new Error("startIssuer needs a master key");
  const store = await openStore(o.db, { ...(o.synchronous ? { synchronous: o.synchronous } : {}), create: o.create ?? true });
  try {
    // The key the cards were issued under, or none (keys.ts); a `keys` source (tests) has no master key to check.
    if (o.masterKey && !o.keys) await checkMasterKey(store, o.masterKey);
    const issuer = new Issuer({ store, keys, policy: o.policy, now: o.now, bin: o.bin });
    await applyRestoreRule(store, issuer.policy, o.now ?? Date.now); // before serving: a restored backup's rule
    const app = buildApp(issuer, { logLevel: o.logLevel });
    registerIssuance(app, { issuer, keys, now: o.now }); // issue 5: cards bound to chips, verify after burn
    await app.listen({ host: HOST, port: o.port ?? DEFAULT_PORT });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : o.port;
    return {
      url: `http://${HOST}:${port}`,
      issuer,
      createToken: (label, role) => issuer.createToken(label, role),
      async close() {
        await app.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
