/** `--db` to a migrated store: postgres:// or postgresql:// URLs, anything else an SQLite file. */
import type { Store } from "./types.ts";

export interface OpenOptions {
  /** SQLite only: see SqliteOptions.synchronous. */
  synchronous?: "FULL" | "NORMAL";
  /**
   * Make a new issuer database when `db` holds none (default true, for
   * programs that embed an issuer). The command line passes its --create:
   * a mistyped --db must not start a brand-new, empty issuer.
   */
  create?: boolean;
}

/** What an absent or empty database says when it may not be created. */
export function notAnIssuer(db: string): Error {
  return new Error(`${db} holds no issuer database: check --db, or pass --create to make a new one`);
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

export async function openStore(db: string, opts: OpenOptions = {}): Promise<Store> {
  if (typeof db !== "string" || db.length === 0) throw new Error("--db needs an SQLite file name or a postgres:// URL");
  let store: Store;
  if (isPostgresUrl(db)) {
    const { PostgresStore } = await import("./postgres.ts");
    store = new PostgresStore(db, { create: opts.create });
  } else {
    const { SqliteStore } = await import("./sqlite.ts");
    store = new SqliteStore(db, opts);
  }
  try {
    await store.migrate();
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  return store;
}
