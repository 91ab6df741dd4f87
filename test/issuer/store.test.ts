/** One behaviour suite for both stores (SQLite file, PostgreSQL database): the Store contract of store/types.ts. */
import Database from "better-sqlite3";
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { openStore } from "../../host-tools/issuer/store/open.ts";
import { MIGRATIONS } from "../../host-tools/issuer/store/schema.ts";
import type { AuditEntry, Store } from "../../host-tools/issuer/store/types.ts";
import { newCard, postgresDb, sqliteDb, type TestDb } from "./support.ts";

const audit = (cardId: string, event: AuditEntry["event"] = "issue", outcome = "ok"): AuditEntry => ({
  at: 1_700_000_000_000, cardId, event, outcome, caller: "tok_test", detail: "d",
});

/** The issuance table as issuance-store.ts made it beside the schema, before schema version 6 took it in. */
const OLD_ISSUANCE_TABLE = [
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

/**
 * A database as the code before schema version 6 left it: the schema at
 * version 5, and the issuance table made by the issuance code, holding
 * `rows` (statements with `?` placeholders, run in order).
 */
async function version5WithIssuance(kind: "sqlite" | "postgres", url: string, rows: [string, unknown[]][]): Promise<void> {
  const statements: [string, unknown[]][] = [["CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", []]];
  for (const m of MIGRATIONS.filter((m) => m.version <= 5)) {
    const sql = kind === "sqlite" ? m.sqlite : m.postgres;
    if (sql) statements.push([sql, []]);
    statements.push(["INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", [m.version]]);
  }
  statements.push(...OLD_ISSUANCE_TABLE.map((sql): [string, unknown[]] => [sql, []]), ...rows);
  if (kind === "sqlite") {
    const db = new Database(url);
    try {
      db.pragma("journal_mode = WAL");
      for (const [sql, args] of statements) args.length === 0 ? db.exec(sql) : db.prepare(sql).run(...args);
    } finally {
      db.close();
    }
    return;
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const [sql, args] of statements) {
      let n = 0;
      await c.query(sql.replace(/\?/g, () => `$${++n}`), args);
    }
  } finally {
    await c.end();
  }
}

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer store contract: ${db.kind}`, function () {
    let store: Store;
    let url: string;

    beforeEach(async function () {
      url = await db.create(this);
      store = await openStore(url);
    });
    afterEach(async () => {
      await store?.close();
    });
    after(() => db.cleanup());

    it("migrates an empty database, and migrating again (or from a second process's store) changes nothing", async () => {
      await store.migrate();
      const other = await openStore(url);
      await other.close();
      const c = newCard();
      expect(await store.insertCard(c, audit(c.id))).to.equal(true);
      expect(await store.getCard(c.id)).to.deep.equal(c);
    });

    it("stores a card exactly and refuses a second card with the same PAN and PSN, writing nothing", async () => {
      const c = newCard({ nextCounter: 2 ** 40, lastStep: 2 ** 33, drift: -3, blocked: true });
      expect(await store.insertCard(c, audit(c.id))).to.equal(true);
      expect(await store.getCard(c.id)).to.deep.equal(c);
      const twin = newCard({ pan: c.pan });
      expect(await store.insertCard(twin, audit(twin.id))).to.equal(false);
      expect(await store.getCard(twin.id)).to.equal(undefined);
      expect(await store.listAudit({ cardId: twin.id, limit: 10 })).to.deep.equal([]);
      expect(await store.getCard(randomUUID())).to.equal(undefined);
    });

    it("change() writes the state, bumps the version and appends the audit entry together", async () => {
      const c = newCard();
      await store.insertCard(c, audit(c.id));
      const r = await store.change(c.id, (card) => ({
        state: { ...card, nextCounter: card.nextCounter + 7, failures: 2, lastFailureAt: 5 },
        audit: audit(c.id, "verify", "mismatch"),
        result: "done",
      }));
      expect(r).to.equal("done");
      const after = (await store.getCard(c.id))!;
      expect([after.nextCounter, after.failures, after.lastFailureAt, after.version]).to.deep.equal([7, 2, 5, 1]);
      const entries = await store.listAudit({ cardId: c.id, limit: 10 });
      expect(entries.map((e) => [e.event, e.outcome])).to.deep.equal([["verify", "mismatch"], ["issue", "ok"]]);
    });

    it("change() on an unknown card resolves undefined and runs nothing", async () => {
      let ran = false;
      const r = await store.change(randomUUID(), () => {
        ran = true;
        return { audit: audit("x"), result: 1 };
      });
      expect([r, ran]).to.deep.equal([undefined, false]);
    });

    it("a decision that throws writes nothing, and the changes around it still happen", async () => {
      const cards = [newCard(), newCard(), newCard()];
      for (const c of cards) await store.insertCard(c, audit(c.id));
      const results = await Promise.allSettled(
        cards.map((c, i) =>
          store.change(c.id, (card) => {
            if (i === 1) throw new Error("refused");
            return { state: { ...card, nextCounter: 1 }, audit: audit(c.id, "verify"), result: i };
          }),
        ),
      );
      expect(results.map((r) => r.status)).to.deep.equal(["fulfilled", "rejected", "fulfilled"]);
      const counters = await Promise.all(cards.map(async (c) => (await store.getCard(c.id))!.nextCounter));
      expect(counters).to.deep.equal([1, 0, 1]);
      expect(await store.listAudit({ cardId: cards[1].id, limit: 10 })).to.have.length(1);
    });

    it("serialises 64 concurrent read-modify-write changes of one card: none is lost", async () => {
      const c = newCard();
      await store.insertCard(c, audit(c.id));
      const seen = await Promise.all(
        Array.from({ length: 64 }, () =>
          store.change(c.id, (card) => ({ state: { ...card, nextCounter: card.nextCounter + 1 }, audit: audit(c.id, "verify"), result: card.nextCounter })),
        ),
      );
      expect([...seen].sort((a, b) => a! - b!)).to.deep.equal(Array.from({ length: 64 }, (_, i) => i));
      const after = (await store.getCard(c.id))!;
      expect([after.nextCounter, after.version]).to.deep.equal([64, 64]);
    });

    it("sees the changes another process's store made to a card before changing it again", async () => {
      // The SQLite store keeps cards in memory between batches; the other connection's commits must drop that copy.
      const other = await openStore(url);
      try {
        const c = newCard();
        await store.insertCard(c, audit(c.id));
        const bump = (s: Store, outcome: string) =>
          s.change(c.id, (card) => ({ state: { ...card, nextCounter: card.nextCounter + 1 }, audit: audit(c.id, "verify", outcome), result: card.nextCounter }));
        const seen = [];
        for (let i = 0; i < 6; i++) seen.push(await bump(i % 3 === 2 ? other : store, `o${i}`));
        expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5]);
        expect([(await store.getCard(c.id))!.nextCounter, (await store.getCard(c.id))!.version]).to.deep.equal([6, 6]);
        const trail = await other.listAudit({ cardId: c.id, limit: 10 });
        expect(trail.map((e) => e.outcome)).to.deep.equal(["o5", "o4", "o3", "o2", "o1", "o0", "ok"]);
      } finally {
        await other.close();
      }
    });

    it("lists the audit trail newest first, by card, with a limit and a cursor", async () => {
      const a = newCard();
      const b = newCard();
      await store.insertCard(a, audit(a.id));
      await store.insertCard(b, audit(b.id));
      for (let i = 0; i < 5; i++) await store.change(a.id, (card) => ({ audit: audit(a.id, "verify", `o${i}`), result: 0, state: card }));
      const page1 = await store.listAudit({ cardId: a.id, limit: 4 });
      expect(page1.map((e) => e.outcome)).to.deep.equal(["o4", "o3", "o2", "o1"]);
      const page2 = await store.listAudit({ cardId: a.id, limit: 4, beforeId: page1[3].id });
      expect(page2.map((e) => e.outcome)).to.deep.equal(["o0", "ok"]);
      expect(page2[1]).to.include({ cardId: a.id, event: "issue", caller: "tok_test", detail: "d" });
      expect((await store.listAudit({ limit: 100 })).length).to.equal(7);
      // A cursor must be one of the card's own entries.
      const [bIssue] = await store.listAudit({ cardId: b.id, limit: 1 });
      expect(await store.listAudit({ cardId: a.id, limit: 4, beforeId: bIssue.id })).to.deep.equal([]);
      expect(await store.listAudit({ cardId: randomUUID(), limit: 4 })).to.deep.equal([]);
      // Without a card: every entry older than the cursor.
      expect((await store.listAudit({ limit: 100, beforeId: bIssue.id })).map((e) => e.cardId)).to.deep.equal([a.id]);
    });

    it("keeps tokens by hash, with their role; lists and deletes them", async () => {
      await store.insertToken({ id: "tok_1", hash: "ab".repeat(32), label: "ops", role: "verify", createdAt: 1 });
      await store.insertToken({ id: "tok_2", hash: "cd".repeat(32), label: "station", role: "issue", createdAt: 2 });
      expect(await store.findToken("ab".repeat(32))).to.deep.equal({ id: "tok_1", hash: "ab".repeat(32), label: "ops", role: "verify", createdAt: 1 });
      expect(await store.findToken("ef".repeat(32))).to.equal(undefined);
      expect((await store.listTokens()).map((t) => [t.id, t.role])).to.deep.equal([["tok_1", "verify"], ["tok_2", "issue"]]);
      expect(await store.deleteToken("tok_1")).to.equal(true);
      expect(await store.deleteToken("tok_1")).to.equal(false);
      expect(await store.findToken("ab".repeat(32))).to.equal(undefined);
    });

    it("keeps meta values: the first one set stays", async () => {
      expect(await store.getMeta("x")).to.equal(undefined);
      expect(await store.setMetaIfAbsent("x", "1")).to.equal("1");
      expect(await store.setMetaIfAbsent("x", "2")).to.equal("1");
      await store.deleteMeta("x");
      expect(await store.getMeta("x")).to.equal(undefined);
    });

    it("a change with neither state nor audit writes nothing and keeps the version", async () => {
      const c = newCard();
      await store.insertCard(c, audit(c.id));
      expect(await store.change(c.id, () => ({ result: "quiet" }))).to.equal("quiet");
      expect((await store.getCard(c.id))!.version).to.equal(0);
      expect((await store.listAudit({ cardId: c.id, limit: 10 })).length).to.equal(1);
      expect(await store.cardIds()).to.deep.equal([c.id]);
    });

    it("keeps which chip each card was issued to: one pending and one issued card per chip", async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      expect(await store.insertPendingIssuance({ cardId: a, chipSerial: "chip-1", firmware: "1.0", at: 10 })).to.equal(true);
      expect(await store.getIssuance(a)).to.deep.equal({ cardId: a, chipSerial: "chip-1", state: "pending", digest: "", firmware: "1.0", createdAt: 10, updatedAt: 10 });
      expect(await store.insertPendingIssuance({ cardId: b, chipSerial: "chip-1", firmware: "1.0", at: 11 }), "a second pending card").to.equal(false);
      expect(await store.insertPendingIssuance({ cardId: a, chipSerial: "chip-2", firmware: "1.0", at: 11 }), "the same card again").to.equal(false);
      expect(await store.getIssuance(b)).to.equal(undefined);
      await store.setIssuanceDigest(a, "ab".repeat(32), 12);
      expect(await store.promoteIssuance(a, "chip-1", 13)).to.equal(true);
      expect(await store.promoteIssuance(a, "chip-1", 14), "no longer pending").to.equal(false);
      await store.setIssuanceDigest(a, "cd".repeat(32), 15); // not pending: nothing changes
      expect(await store.getIssuance(a)).to.deep.include({ state: "issued", digest: "ab".repeat(32), updatedAt: 13 });

      // A reissue: b pending beside issued a, abandoned; then c replaces a.
      expect(await store.insertPendingIssuance({ cardId: b, chipSerial: "chip-1", firmware: "1.1", at: 20 })).to.equal(true);
      expect((await store.chipIssuance("chip-1")).map((r) => [r.cardId, r.state])).to.deep.equal([[a, "issued"], [b, "pending"]]);
      await store.abandonIssuance(b, 21);
      expect(await store.promoteIssuance(b, "chip-1", 22), "abandoned").to.equal(false);
      expect(await store.getIssuance(a)).to.deep.include({ state: "issued" });
      expect(await store.insertPendingIssuance({ cardId: c, chipSerial: "chip-1", firmware: "1.1", at: 30 })).to.equal(true);
      expect(await store.promoteIssuance(c, "chip-1", 31)).to.equal(true);
      expect([(await store.getIssuance(a))?.state, (await store.getIssuance(b))?.state, (await store.getIssuance(c))?.state]).to.deep.equal(["replaced", "void", "issued"]);
      expect((await store.chipIssuance("chip-1")).map((r) => r.cardId)).to.deep.equal([c]);
      expect((await store.issuedCards()).map((r) => r.cardId)).to.deep.equal([c]);
    });

    it("of several stores racing to begin an issuance for one chip, exactly one wins", async () => {
      const others = [await openStore(url), await openStore(url)];
      try {
        const wins = await Promise.all(
          [store, ...others, store].map((s, i) => s.insertPendingIssuance({ cardId: randomUUID(), chipSerial: "chip-race", firmware: "1.0", at: i })),
        );
        expect(wins.filter((w) => w)).to.have.length(1);
        expect(await others[0].chipIssuance("chip-race")).to.have.length(1);
      } finally {
        for (const o of others) await o.close();
      }
    });

    it("upgrades a database whose issuance table the code before schema version 6 made, keeping its rows", async function () {
      const old = await db.create(this);
      const [a, b] = [randomUUID(), randomUUID()];
      const insert = "INSERT INTO issuance (card_id, chip_serial, state, digest, firmware, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
      await version5WithIssuance(db.kind, old, [
        [insert, [a, "chip-old", "issued", "ab".repeat(32), "0.9", 1_700_000_000_000, 1_700_000_000_001]],
        [insert, [b, "chip-old", "pending", "", "1.0", 1_700_000_000_002, 1_700_000_000_002]],
      ]);
      const upgraded = await openStore(old, { create: false });
      try {
        expect(upgraded.created).to.equal(false);
        expect(await upgraded.getIssuance(a)).to.deep.equal({
          cardId: a, chipSerial: "chip-old", state: "issued", digest: "ab".repeat(32), firmware: "0.9", createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_001,
        });
        expect((await upgraded.issuedCards()).map((r) => r.cardId)).to.deep.equal([a]);
        expect(await upgraded.insertPendingIssuance({ cardId: randomUUID(), chipSerial: "chip-old", firmware: "1.0", at: 5 }), "its indexes hold").to.equal(false);
        expect(await upgraded.promoteIssuance(b, "chip-old", 6)).to.equal(true);
        expect((await upgraded.chipIssuance("chip-old")).map((r) => [r.cardId, r.state])).to.deep.equal([[b, "issued"]]);
      } finally {
        await upgraded.close();
      }
      const again = await openStore(old, { create: false });
      expect((await again.issuedCards()).map((r) => r.cardId), "migrating twice changes nothing").to.deep.equal([b]);
      await again.close();
    });

    it("opens a database that holds no issuer only when asked to create one", async function () {
      const fresh = await db.create(this);
      let refused: Error | undefined;
      await openStore(fresh, { create: false }).then((s) => s.close(), (e: Error) => (refused = e));
      expect(refused?.message).to.match(/holds no issuer database: check --db, or pass --create/);
      const made = await openStore(fresh, { create: true });
      expect(made.created).to.equal(true);
      await made.close();
      const again = await openStore(fresh, { create: false });
      expect(again.created).to.equal(false);
      await again.close();
    });
  });
}
