/**
 * The SQLite store's card log (schema version 3): one row per group commit,
 * holding that batch's audit entries as a JSON array. The entries of a row
 * are numbered from its first_id up, so an entry is named by one integer, as
 * an audit id always was. The row's `at` is its first entry's time, and each
 * entry holds its own as milliseconds after that (mostly 0, a dozen bytes
 * shorter than the time itself). Each entry keeps its card's previous entry
 * (prev_id, 0 for none), which chains a card's trail through the rows, and
 * what it did to the card's state (store/delta.ts), which is how the store
 * replays the log.
 */
import type { AuditEntry, AuditEvent, AuditRecord } from "./types.ts";

/** One entry: [at, card_id, event, outcome, caller, detail, prev_id, state]; `at` is stored relative to the row's. */
export type LogEntry = [at: number, cardId: string, event: AuditEvent, outcome: string, caller: string, detail: string | null, prev: number, state: string];

/** A row of the log, parsed. */
export interface LogBatch {
  first: number;
  entries: LogEntry[];
}

export const CARD = 1;
export const PREV = 6;
export const STATE = 7;

export function logEntry(a: AuditEntry, prev: number, state: string): LogEntry {
  return [a.at, a.cardId, a.event, a.outcome, a.caller, a.detail ?? null, prev, state];
}

/** A row of the log table. */
export interface BatchRow {
  first_id: number;
  at: number;
  entries: string;
}

/** The `at` and `entries` of the row for these entries (whose times it rewrites as offsets). */
export function encodeBatch(entries: LogEntry[]): { at: number; text: string } {
  const at = entries[0][0];
  for (const e of entries) e[0] -= at;
  return { at, text: JSON.stringify(entries) };
}

export function parseBatch(row: BatchRow): LogBatch {
  const entries = JSON.parse(row.entries) as LogEntry[];
  for (const e of entries) e[0] += row.at;
  return { first: row.first_id, entries };
}

/** One entry's JSON, as taken out of its row (whose `at` it needs). */
export function parseEntry(rowAt: number, json: string): LogEntry {
  const e = JSON.parse(json) as LogEntry;
  e[0] += rowAt;
  return e;
}

export function auditRecord(id: number, e: LogEntry): AuditRecord {
  return { id, at: e[0], cardId: e[1], event: e[2], outcome: e[3], caller: e[4], detail: e[5] ?? undefined };
}
