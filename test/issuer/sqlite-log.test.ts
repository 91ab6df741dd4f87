/**
 * The SQLite store's card log (store/sqlite.ts): state lives in the audit
 * entries and reaches the cards table at checkpoints; a store opened on the
 * file replays what the checkpoint does not include.
 */
import Database from "better-sqlite3";
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { closeSync, statSync } from "node:fs";
import { join } from "node:path";
import type { CardRecord } from "../../host-tools/issuer/card.ts";
import { MIGRATIONS } from "../../host-tools/issuer/store/schema.ts";
import { SqliteStore } from "../../host-tools/issuer/store/sqlite.ts";
import type { AuditEntry } from "../../host-tools/issuer/store/types.ts";
import { newCard, tempDir } from "./support.ts";

const entry = (cardId: string, outcome = "ok"): AuditEntry => ({ at: 1_700_000_000_000, cardId, event: "verify", outcome, caller: "tok_test" });
const bump = (s: SqliteStore, id: string, outcome = "ok") =>
  s.change(id, (card) => ({ state: { ...card, nextCounter: card.nextCounter + 1 }, audit: entry(id, outcome), result: card.nextCounter }));

/** What the file says without the store: the cards row's counter, the checkpoint, the newest audit id. */
function onDisk(path: string, id: string): { counter: number; checkpoint: number; last: number } {
  const db = new Database(path, { readonly: true });
  try {
    return {
      counter: (db.prepare("SELECT next_counter FROM cards WHERE id = ?").pluck().get(id) as number) ?? -1,
      checkpoint: db.prepare("SELECT value FROM store_meta WHERE name = 'checkpoint'").pluck().get() as number,
      last: db.prepare("SELECT MAX(id) FROM audit").pluck().get() as number,
    };
  } finally {
    db.close();
  }
}

describe("issuer SQLite store: the card log", () => {
  let t: ReturnType<typeof tempDir>;
  let path: string;
  const open: SqliteStore[] = [];
  async function store(checkpointRows?: number): Promise<SqliteStore> {
    const s = new SqliteStore(path, checkpointRows === undefined ? {} : { checkpointRows });
    open.push(s);
    await s.migrate();
    return s;
  }
  /** The file at schema `version`, holding card `c` (unblocked, no failures) whose newest audit entry is `head`. */
  function olderDatabase(version: number, c: CardRecord, head: number): Database.Database {
    const db = new Database(path);
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    for (const m of MIGRATIONS.slice(0, version)) {
      db.exec(m.sqlite);
      db.prepare("INSERT INTO schema_migrations VALUES (?, 0)").run(m.version);
    }
    db.prepare(
      `INSERT INTO cards (id, pan, expiry, psn, mode, digits, algorithm, step, start_counter, created_at, version, blocked, next_counter,
         last_step, drift, failures, last_failure_at, resync_failures, last_resync_failure_at, last_audit_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, -1, 0, 0, 0, 0, 0, ?)`,
    ).run(c.id, c.pan, c.expiry, c.psn, c.mode, c.digits, c.algorithm, c.step, c.startCounter, c.createdAt, c.version, c.nextCounter, head);
    return db;
  }
  beforeEach(() => {
    t = tempDir();
    path = join(t.dir, "issuer.sqlite");
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => {});
    t.cleanup();
  });

  it("appends a change to the log alone, and writes the cards table at checkpoints", async () => {
    const s = await store(5);
    const c = newCard();
    await s.insertCard(c, { ...entry(c.id), event: "issue" });
    for (let i = 0; i < 3; i++) await bump(s, c.id);
    expect(onDisk(path, c.id).counter).to.equal(0); // the row is behind; the log has the three changes
    expect((await s.getCard(c.id))!.nextCounter).to.equal(3);
    await bump(s, c.id); // the fifth entry after the checkpoint (the issue was the first): this batch checkpoints
    const disk = onDisk(path, c.id);
    expect(disk).to.deep.equal({ counter: 4, checkpoint: disk.last, last: disk.last });
    await bump(s, c.id);
    await s.close();
    const closed = onDisk(path, c.id);
    expect(closed).to.deep.equal({ counter: 5, checkpoint: closed.last, last: closed.last }); // close checkpoints
  });

  it("copies the WAL into the database file at its checkpoints, so the WAL stays small", async () => {
    const s = new SqliteStore(path, { checkpointRows: 100, synchronous: "NORMAL" });
    open.push(s);
    await s.migrate();
    const c = newCard();
    await s.insertCard(c, { ...entry(c.id), event: "issue" });
    for (let i = 0; i < 2000; i++) await bump(s, c.id); // 2,000 commits of at least one 4 KB page each
    expect(statSync(`${path}-wal`).size).to.be.below(1 << 20);
    expect((await s.getCard(c.id))!.nextCounter).to.equal(2000);
  });

  it("a store opened on the file replays the log after the checkpoint, as after a crash", async () => {
    const s = await store(1000);
    const cards = [newCard(), newCard()];
    for (const c of cards) await s.insertCard(c, { ...entry(c.id), event: "issue" });
    for (let i = 0; i < 7; i++) await Promise.all(cards.map((c) => bump(s, c.id, `o${i}`)));
    await s.change(cards[1].id, (card) => ({ state: { ...card, blocked: true, failures: 3, lastFailureAt: 99 }, audit: entry(cards[1].id, "x"), result: 0 }));
    // s is not closed: nothing checkpointed, as if the process had been killed.
    expect(onDisk(path, cards[0].id).counter).to.equal(0);
    const after = await store(1000);
    expect(await after.getCard(cards[0].id)).to.deep.equal(await s.getCard(cards[0].id));
    expect(await after.getCard(cards[1].id)).to.include({ nextCounter: 7, blocked: true, failures: 3, lastFailureAt: 99, version: 8 });
    // It goes on from there: the next change numbers after the replayed ones and chains onto them.
    expect(await bump(after, cards[0].id)).to.equal(7);
    const trail = await after.listAudit({ cardId: cards[0].id, limit: 3 });
    expect(trail.map((e) => e.outcome)).to.deep.equal(["ok", "o6", "o5"]);
  });

  it("two stores on one file, each checkpointing often, never lose or repeat a counter", async () => {
    const a = await store(3);
    const b = await store(4);
    const c = newCard();
    await a.insertCard(c, { ...entry(c.id), event: "issue" });
    const seen: number[] = [];
    for (let i = 0; i < 40; i++) seen.push((await bump(i % 3 ? a : b, c.id))!);
    expect(seen).to.deep.equal(Array.from({ length: 40 }, (_, i) => i));
    expect([(await a.getCard(c.id))!.version, (await b.getCard(c.id))!.version]).to.deep.equal([40, 40]);
    const fresh = await store();
    expect((await fresh.getCard(c.id))!.nextCounter).to.equal(40);
    expect((await fresh.listAudit({ cardId: c.id, limit: 100 })).length).to.equal(41);
  });

  it("migrates a version-1 database: its cards rows are current, so the checkpoint starts at its newest entry", async () => {
    const c = newCard({ nextCounter: 41, version: 9 });
    const v1 = olderDatabase(1, c, 2);
    v1.prepare("INSERT INTO audit (at, card_id, event, outcome, caller, detail, prev_id) VALUES (1, ?, 'issue', 'ok', 't', NULL, 0)").run(c.id);
    v1.prepare("INSERT INTO audit (at, card_id, event, outcome, caller, detail, prev_id) VALUES (2, ?, 'verify', 'ok', 't', 'counter=40', 1)").run(c.id);
    v1.close();
    const s = await store();
    expect(await s.getCard(c.id)).to.deep.equal(c);
    expect(onDisk(path, c.id).checkpoint).to.equal(2);
    expect(await bump(s, c.id)).to.equal(41);
    const trail = await s.listAudit({ cardId: c.id, limit: 10 });
    expect(trail.map((e) => e.detail ?? e.outcome)).to.deep.equal(["ok", "counter=40", "ok"]);
    expect(trail.map((e) => e.at).slice(1)).to.deep.equal([2, 1]);
  });

  it("migrates a version-2 database killed before its checkpoint: the entries after it are replayed from the log", async () => {
    const c = newCard({ nextCounter: 7, version: 3 });
    const v2 = olderDatabase(2, c, 1);
    const audit = v2.prepare("INSERT INTO audit (at, card_id, event, outcome, caller, detail, prev_id, state) VALUES (?, ?, 'verify', ?, 't', NULL, ?, ?)");
    audit.run(1, c.id, "ok", 0, "v3 n7"); // the cards row includes this one: the checkpoint
    v2.prepare("UPDATE store_meta SET value = 1 WHERE name = 'checkpoint'").run();
    audit.run(2, c.id, "ok", 1, "v4 n8"); // and not these two
    audit.run(3, c.id, "mismatch", 2, "v5 f1 t3");
    v2.close();
    const s = await store();
    expect(await s.getCard(c.id)).to.include({ version: 5, nextCounter: 8, failures: 1, lastFailureAt: 3 });
    expect((await s.listAudit({ cardId: c.id, limit: 10 })).map((e) => [e.id, e.at, e.outcome])).to.deep.equal([
      [3, 3, "mismatch"],
      [2, 2, "ok"],
      [1, 1, "ok"],
    ]);
    expect(await bump(s, c.id)).to.equal(8);
  });

  it("writes a batch of changes as one row of the log, which the audit view shows entry by entry", async () => {
    const s = await store();
    const cards = [newCard(), newCard(), newCard()];
    for (const c of cards) await s.insertCard(c, { ...entry(c.id), event: "issue" });
    const db = new Database(path, { readonly: true });
    try {
      const rows = () => db.prepare("SELECT COUNT(*) FROM log").pluck().get() as number;
      const before = rows();
      // One turn of the event loop: one batch, with entries at different times and one with a detail that needs escaping.
      const times = [1_700_000_000_000, 1_700_000_000_250, 1_699_999_999_999];
      await Promise.all(
        cards.map((c, i) =>
          s.change(c.id, (card) => ({
            state: { ...card, nextCounter: 5 + i },
            audit: { ...entry(c.id), at: times[i], detail: i === 2 ? 'a "quoted"\nline' : undefined },
            result: 0,
          })),
        ),
      );
      expect(rows()).to.equal(before + 1);
      const view = db.prepare("SELECT id, at, card_id AS cardId, event, outcome, caller, detail FROM audit ORDER BY id DESC LIMIT 3").all();
      const listed = await s.listAudit({ limit: 3 });
      expect(view.map((r) => ({ ...(r as object), detail: (r as { detail: string | null }).detail ?? undefined }))).to.deep.equal(listed);
      expect(listed.map((e) => [e.cardId, e.at, e.detail])).to.deep.equal([
        [cards[2].id, times[2], 'a "quoted"\nline'],
        [cards[1].id, times[1], undefined],
        [cards[0].id, times[0], undefined],
      ]);
    } finally {
      db.close();
    }
  });

  it("lists a card's trail longer than one part (100 entries) whole, and in pages by cursor", async () => {
    const s = await store();
    const [c, other] = [newCard(), newCard()];
    for (const card of [c, other]) await s.insertCard(card, { ...entry(card.id), event: "issue" });
    for (let i = 0; i < 250; i++) await Promise.all([bump(s, c.id, `o${i}`), bump(s, other.id)]);
    const want = [...Array.from({ length: 250 }, (_, i) => `o${249 - i}`), "ok"];
    expect((await s.listAudit({ cardId: c.id, limit: 1000 })).map((e) => e.outcome)).to.deep.equal(want);
    const paged: string[] = [];
    for (let before: number | undefined; ; ) {
      const page = await s.listAudit({ cardId: c.id, limit: 60, beforeId: before });
      paged.push(...page.map((e) => e.outcome));
      if (page.length < 60) break;
      before = page[page.length - 1].id;
    }
    expect(paged).to.deep.equal(want);
  });

  it("fails every change once the WAL cannot be synced, instead of answering for what may not be on disk", async () => {
    const s = await store();
    const c = newCard();
    await s.insertCard(c, { ...entry(c.id), event: "issue" });
    const sync = (s as unknown as { walSync: { wal?: number } }).walSync;
    closeSync(sync.wal!); // the descriptor the store syncs; fdatasync now fails
    const failure = (p: Promise<unknown>) => p.then(() => "resolved", (e: Error) => e.message);
    expect(await failure(bump(s, c.id))).to.match(/WAL could not be synced to disk \(EBADF\): restart the issuer/);
    expect(await failure(bump(s, c.id))).to.match(/restart the issuer/);
    sync.wal = undefined; // already closed: close() must not close it again
  });

  it("answers an issuance write only once the WAL holding it is synced, and refuses it once a sync failed", async () => {
    const s = await store();
    const sync = (s as unknown as { walSync: { wal?: number } }).walSync;
    closeSync(sync.wal!);
    const failure = (p: Promise<unknown>) => p.then(() => "resolved", (e: Error) => e.message);
    const pending = (chipSerial: string) => s.insertPendingIssuance({ cardId: randomUUID(), chipSerial, firmware: "1.0", at: 1 });
    expect(await failure(pending("chip-1"))).to.match(/WAL could not be synced to disk \(EBADF\): restart the issuer/);
    expect(await failure(pending("chip-2"))).to.match(/restart the issuer/);
    expect(await s.chipIssuance("chip-2"), "refused before writing").to.deep.equal([]);
    sync.wal = undefined;
  });
});
