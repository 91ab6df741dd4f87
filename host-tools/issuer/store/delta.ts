/**
 * A card's change of state as a short text, stored with each audit entry
 * (store/log.ts on SQLite, audit.state on PostgreSQL): the fields that
 * changed, each as a letter and an integer, e.g. "v8 n13" (version 8, next
 * counter 13) or "v9 f1 t1700000000000".
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
const TOKEN = /^([a-z])(-?[0-9]{1,16})$/;

/**
 * The fields of `next` that differ from `prev`, or "" when none do. Field by
 * field, in FIELDS' order, rather than a loop over FIELDS: it runs on every
 * verify, and reading fields by a varying name is several times slower in V8.
 */
export function encodeDelta(prev: Versioned, next: Versioned): string {
  let out = "";
  if (next.version !== prev.version) out += " v" + next.version;
  if (next.blocked !== prev.blocked) out += next.blocked ? " b1" : " b0";
  if (next.nextCounter !== prev.nextCounter) out += " n" + next.nextCounter;
  if (next.lastStep !== prev.lastStep) out += " s" + next.lastStep;
  if (next.drift !== prev.drift) out += " d" + next.drift;
  if (next.failures !== prev.failures) out += " f" + next.failures;
  if (next.lastFailureAt !== prev.lastFailureAt) out += " t" + next.lastFailureAt;
  if (next.resyncFailures !== prev.resyncFailures) out += " r" + next.resyncFailures;
  if (next.lastResyncFailureAt !== prev.lastResyncFailureAt) out += " u" + next.lastResyncFailureAt;
  return out.slice(1);
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
