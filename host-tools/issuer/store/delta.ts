/**
 * A card's change of state as a short text, stored with each audit entry
 * (audit.state): the fields that changed, each as a letter and an integer,
 * e.g. "v8 n13" (version 8, next counter 13) or "v9 f1 t1700000000000".
 *
 * Every field is written as its new value, never as a difference, so
 * applying a delta is idempotent: replaying the log from a checkpoint that
 * already holds some of its entries gives the same card. The SQLite store
 * keeps cards' state in this log and writes the cards table only at
 * checkpoints (sqlite.ts); both stores write it, so the audit trail shows
 * what each entry did to the card.
 */
import type { CardState } from "../card.ts";

/** What a delta may set: the card's state and its version. */
export interface Versioned extends CardState {
  version: number;
}

const FIELDS: readonly [letter: string, field: keyof Versioned][] = [
  ["v", "version"],
  ["b", "blocked"],
  ["n", "nextCounter"],
  ["s", "lastStep"],
  ["d", "drift"],
  ["f", "failures"],
  ["t", "lastFailureAt"],
  ["r", "resyncFailures"],
  ["u", "lastResyncFailureAt"],
];
const BY_LETTER = new Map(FIELDS);
/** FIELDS as two arrays: encodeDelta runs on every verify. */
const LETTERS = FIELDS.map((f) => f[0]);
const KEYS = FIELDS.map((f) => f[1]);
const TOKEN = /^([a-z])(-?[0-9]{1,16})$/;

/** The fields of `next` that differ from `prev`, or "" when none do. */
export function encodeDelta(prev: Versioned, next: Versioned): string {
  let out = "";
  for (let i = 0; i < KEYS.length; i++) {
    const v = next[KEYS[i]];
    if (v === prev[KEYS[i]]) continue;
    if (out) out += " ";
    out += LETTERS[i] + (typeof v === "boolean" ? (v ? "1" : "0") : String(v));
  }
  return out;
}

/** Sets on `target` the fields `delta` names; throws on anything encodeDelta would not write. */
export function applyDelta(target: Versioned, delta: string): void {
  if (delta === "") return;
  for (const token of delta.split(" ")) {
    const m = TOKEN.exec(token);
    const field = m ? BY_LETTER.get(m[1]) : undefined;
    const n = m ? Number(m[2]) : NaN;
    if (!field || !(field === "blocked" ? n === 0 || n === 1 : Number.isSafeInteger(n))) {
      throw new Error(`corrupt card state in the audit log: ${JSON.stringify(token)}`);
    }
    if (field === "blocked") target.blocked = n === 1;
    else target[field] = n;
  }
}
