/** `--db` to a migrated store: postgres:// or postgresql:// URLs, anything else an SQLite file. */
import type { Store } from "./types.ts";

export interface OpenOptions {
  /** SQLite only: see SqliteOptions.synchronous. */
  synchronous?: "FULL" | "NORMAL";
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

export async function openStore(db: string, opts: OpenOptions = {}): Promise<Store> {
  if (typeof db !== "string" || db.length === 0) throw new Error("--db needs an SQLite file name or a postgres:// URL");
  let store: Store;
  if (isPostgresUrl(db)) {
    const { PostgresStore } = await import("./postgres.ts");
    store = new PostgresStore(db);
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
