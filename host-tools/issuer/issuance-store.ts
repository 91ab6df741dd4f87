/**
 * What issuance adds to the issuer's database: which chip each card was
 * issued to and how far its issuance got. One table beside the issuer's own,
 * in the same SQLite file or PostgreSQL database:
 *
 *   pending   a package was handed out; the card is blocked until the tool
 *             proves the card holds it (verify after burn)
 *   issued    proven: the one card of that chip that verifies codes
 *   void      abandoned before it was proven (a later attempt replaced it)
 *   replaced  reissued: the chip now holds another card
 *
 * Unique indexes keep at most one issued and one pending card per chip, so
 * two tools racing on one chip cannot both win.
 */
import { isPostgresUrl } from "./store/open.ts";

export type IssuanceState = "pending" | "issued" | "void" | "replaced";

export interface IssuanceRow {
  cardId: string;
  chipSerial: string;
  state: IssuanceState;
  /** SHA-256 of the profile record issued, hex ("" until known). */
  digest: string;
  /** Firmware version the card reported. */
  firmware: string;
  createdAt: number;
  updatedAt: number;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS issuance (
     card_id     TEXT PRIMARY KEY,
     chip_serial TEXT NOT NULL,
     state       TEXT NOT NULL CHECK (state IN ('pending', 'issued', 'void', 'replaced')),
     digest      TEXT NOT NULL,
     firmware    TEXT NOT NULL,
     created_at  BIGINT NOT NULL,
     updated_at  BIGINT NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS issuance_by_chip ON issuance (chip_serial)",
  "CREATE UNIQUE INDEX IF NOT EXISTS issuance_one_issued ON issuance (chip_serial) WHERE state = 'issued'",
  "CREATE UNIQUE INDEX IF NOT EXISTS issuance_one_pending ON issuance (chip_serial) WHERE state = 'pending'",
];

const COLUMNS = "card_id, chip_serial, state, digest, firmware, created_at, updated_at";

type Statement = [sql: string, args: unknown[]];

/** The two databases behind one small interface: SQL written with `?` placeholders. */
interface Db {
  all(sql: string, args: unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs the statements in one transaction; the rows each changed. */
  tx(statements: Statement[]): Promise<number[]>;
  close(): Promise<void>;
}

export class IssuanceStore {
  private constructor(private readonly db: Db) {}

  /** Opens the table in the issuer's database (`--db`), creating it if needed. */
  static async open(db: string): Promise<IssuanceStore> {
    const store = new IssuanceStore(isPostgresUrl(db) ? await postgres(db) : await sqlite(db));
    try {
      await store.db.tx(SCHEMA.map((sql): Statement => [sql, []]));
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  async get(cardId: string): Promise<IssuanceRow | undefined> {
    return (await this.select("card_id = ?", [cardId]))[0];
  }

  /** The chip's pending and issued cards. */
  current(chipSerial: string): Promise<IssuanceRow[]> {
    return this.select("chip_serial = ? AND state IN ('pending', 'issued')", [chipSerial]);
  }

  /** Every issued card, oldest first (what an export carries). */
  issued(): Promise<IssuanceRow[]> {
    return this.select("state = 'issued'", []);
  }

  /** False when the chip already has a pending card (another tool is at it). */
  async insertPending(r: { cardId: string; chipSerial: string; firmware: string; at: number }): Promise<boolean> {
    try {
      await this.db.tx([[`INSERT INTO issuance (${COLUMNS}) VALUES (?, ?, 'pending', '', ?, ?, ?)`, [r.cardId, r.chipSerial, r.firmware, r.at, r.at]]]);
      return true;
    } catch (e) {
      if (/unique/i.test((e as Error).message)) return false;
      throw e;
    }
  }

  async setDigest(cardId: string, digest: string, at: number): Promise<void> {
    await this.db.tx([["UPDATE issuance SET digest = ?, updated_at = ? WHERE card_id = ? AND state = 'pending'", [digest, at, cardId]]]);
  }

  /** pending -> void. */
  async abandon(cardId: string, at: number): Promise<void> {
    await this.db.tx([["UPDATE issuance SET state = 'void', updated_at = ? WHERE card_id = ? AND state = 'pending'", [at, cardId]]]);
  }

  /** In one transaction: the chip's issued card becomes replaced, and this pending one issued. False (nothing changed) if it was not pending. */
  async promote(cardId: string, chipSerial: string, at: number): Promise<boolean> {
    const changed = await this.db.tx([
      [
        `UPDATE issuance SET state = 'replaced', updated_at = ? WHERE chip_serial = ? AND state = 'issued'
           AND EXISTS (SELECT 1 FROM issuance WHERE card_id = ? AND state = 'pending')`,
        [at, chipSerial, cardId],
      ],
      ["UPDATE issuance SET state = 'issued', updated_at = ? WHERE card_id = ? AND state = 'pending'", [at, cardId]],
    ]);
    return changed[1] === 1;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  private async select(where: string, args: unknown[]): Promise<IssuanceRow[]> {
    const rows = await this.db.all(`SELECT ${COLUMNS} FROM issuance WHERE ${where} ORDER BY created_at, card_id`, args);
    return rows.map((r) => ({
      cardId: String(r.card_id),
      chipSerial: String(r.chip_serial),
      state: r.state as IssuanceState,
      digest: String(r.digest),
      firmware: String(r.firmware),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    }));
  }
}

async function sqlite(file: string): Promise<Db> {
  const { default: Database } = await import("better-sqlite3");
  // A connection of our own to the issuer's file (WAL: readers and one writer at a time).
  const db = new Database(file);
  db.pragma("busy_timeout = 10000");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  return {
    all: async (sql, args) => db.prepare(sql).all(...args) as Record<string, unknown>[],
    tx: async (statements) => db.transaction(() => statements.map(([sql, args]) => db.prepare(sql).run(...args).changes)).immediate(),
    close: async () => {
      if (db.open) db.close();
    },
  };
}

async function postgres(url: string): Promise<Db> {
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on("error", () => {}); // a dropped idle connection: the next query gets a new one
  const numbered = (sql: string) => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  };
  return {
    all: async (sql, args) => (await pool.query(numbered(sql), args)).rows as Record<string, unknown>[],
    tx: async (statements) => {
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        await c.query("SELECT pg_advisory_xact_lock(1769632617)"); // serialises schema creation and changes
        const changed: number[] = [];
        for (const [sql, args] of statements) changed.push((await c.query(numbered(sql), args)).rowCount ?? 0);
        await c.query("COMMIT");
        return changed;
      } catch (e) {
        await c.query("ROLLBACK").catch(() => {});
        throw e;
      } finally {
        c.release();
      }
    },
    close: () => pool.end(),
  };
}
