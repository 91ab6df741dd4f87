/**
 * The SQLite store's cards in memory (store/sqlite.ts): each card as the log
 * has it, how memory catches up with the log other connections write, and
 * the checkpoint that writes memory back to the cards table. It is kept
 * apart from the store, which only runs the transactions around it.
 *
 * This connection holds in memory every card changed since the checkpoint
 * (they are never evicted), plus recently used ones, and the id of the newest
 * log entry it has applied. Whenever PRAGMA data_version says another
 * connection has committed, it reads the entries it has not seen before
 * deciding anything: under the write lock for a change, so nothing can
 * commit between that read and its own writes. Opening the store replays
 * the log after the checkpoint, which is how a crash is recovered.
 */
import type { CardRecord, CardState } from "../card.ts";
import { applyDelta } from "./delta.ts";
import { CARD, parseBatch, STATE, type BatchRow, type LogEntry } from "./log.ts";
import type { Statements } from "./sqlite-queries.ts";
import { cardFromRow } from "./types.ts";

/** Clean cards kept in memory (a row is a few hundred bytes); cards changed since the checkpoint come on top. */
const MAX_CACHED = 100_000;

/**
 * `card` with state `s` and `version`, as a new record. Every field is
 * written out, in one order, so that all records in memory share one shape
 * (a spread of the record costs several times as much on the verify path).
 */
export function withState(card: CardRecord, s: CardState, version: number): CardRecord {
  return {
    id: card.id, pan: card.pan, expiry: card.expiry, psn: card.psn, mode: card.mode, digits: card.digits, algorithm: card.algorithm,
    step: card.step, startCounter: card.startCounter, createdAt: card.createdAt, version,
    blocked: s.blocked, nextCounter: s.nextCounter, lastStep: s.lastStep, drift: s.drift, failures: s.failures,
    lastFailureAt: s.lastFailureAt, resyncFailures: s.resyncFailures, lastResyncFailureAt: s.lastResyncFailureAt,
  };
}

/** A card as the log has it, with the id of its newest entry (the head of its chain). */
export interface Cached {
  card: CardRecord;
  head: number;
}

/**
 * The cards of one connection. Every method runs inside the store's
 * transaction (read or write); the store changes `cards`, `dirty` and
 * `logEnd` itself when it appends to the log.
 */
export class CardCache {
  /** Cards as the log has them, up to `logEnd`; least recently loaded first. */
  readonly cards = new Map<string, Cached>();
  /** Ids of the cards changed after the checkpoint: the cards table is behind on them. */
  readonly dirty = new Set<string>();
  /** The newest log entry applied to `cards`. */
  logEnd = 0;
  /** store_meta.checkpoint as last read or written. */
  checkpointAt = 0;
  /** PRAGMA data_version when `cards` last matched the database; -1: read the log. */
  private knownVersion = -1;

  constructor(private readonly st: Statements) {}

  /** The card as the log has it, read into memory if it is not there; undefined when there is no such card. */
  get(id: string): Cached | undefined {
    return this.cards.get(id) ?? this.load(id);
  }

  /** Reads a card into memory from its row, which is current unless the card is dirty (and so already in memory). */
  private load(id: string): Cached | undefined {
    const row = this.st.card.get(id) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    if (this.cards.size >= MAX_CACHED + this.dirty.size) {
      // Map keeps insertion order: the first clean entry is the oldest.
      for (const key of this.cards.keys()) {
        if (this.dirty.has(key)) continue;
        this.cards.delete(key);
        break;
      }
    }
    const card = cardFromRow(row);
    const cached = { card: Object.freeze(withState(card, card, card.version)), head: Number(row.last_audit_id) };
    this.cards.set(id, cached);
    return cached;
  }

  /** Drops what memory holds of the log: the next catchUp replays it from the checkpoint. */
  forget(): void {
    this.cards.clear();
    this.dirty.clear();
    this.checkpointAt = 0;
    this.logEnd = -1;
    this.knownVersion = -1;
  }

  /**
   * Inside a transaction: applies the log entries other connections have
   * committed since this one last looked (all after the checkpoint, after
   * forget()). Costs one PRAGMA when there are none.
   */
  catchUp(): void {
    const version = this.st.dataVersion.get() as number;
    if (version === this.knownVersion) return;
    const checkpoint = this.st.checkpoint.get() as number;
    if (checkpoint !== this.checkpointAt) {
      // Another connection wrote a checkpoint: the cards table now includes what it covered.
      for (const id of this.dirty) if ((this.cards.get(id)?.head ?? 0) <= checkpoint) this.dirty.delete(id);
      this.checkpointAt = checkpoint;
    }
    if (this.logEnd < 0) this.logEnd = checkpoint; // after forget(): the cards table holds the rest
    // logEnd is always the last entry of a row: rows are read and written whole.
    for (const row of this.st.tail.iterate(this.logEnd) as Iterable<BatchRow>) {
      const { first, entries } = parseBatch(row);
      entries.forEach((e, i) => this.replay(first + i, e));
      this.logEnd = first + entries.length - 1;
    }
    this.knownVersion = version;
  }

  private replay(id: number, e: LogEntry): void {
    const cardId = e[CARD];
    const cached = this.get(cardId);
    if (!cached) throw new Error(`the audit log names a card that is not in the cards table (entry ${id})`);
    // A card loaded after this entry was checkpointed has it already.
    if (id <= cached.head) return;
    const card = withState(cached.card, cached.card, cached.card.version);
    applyDelta(card, e[STATE]);
    cached.card = Object.freeze(card);
    cached.head = id;
    if (id > this.checkpointAt) this.dirty.add(cardId);
  }

  /** Writes every card changed since the checkpoint to the cards table, and moves the checkpoint to the end of the log. */
  checkpoint(): void {
    for (const id of this.dirty) {
      const cached = this.cards.get(id);
      if (!cached) throw new Error("a card changed since the checkpoint is missing from memory");
      const s = cached.card;
      this.st.update.run(
        s.version, s.blocked ? 1 : 0, s.nextCounter, s.lastStep, s.drift, s.failures, s.lastFailureAt, s.resyncFailures,
        s.lastResyncFailureAt, cached.head, id,
      );
    }
    this.st.setCheckpoint.run(this.logEnd);
    this.dirty.clear();
    this.checkpointAt = this.logEnd;
  }
}
