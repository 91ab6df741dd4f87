/**
 * Backups, and the rule a restored backup starts under (docs/issuer-api.md,
 * "Backup and restore").
 *
 * A backup is the database as it was when the backup was taken; the live
 * issuer may have accepted codes after that, which the backup does not
 * know. So the first start from a restored backup (a database holding the
 * RESTORED marker, which `backup` writes into each copy and `restored`
 * sets after a PostgreSQL restore) applies, to every card, in one audited
 * change each, before the issuer serves:
 *
 * - time cards: refuse every step up to the current one plus the largest
 *   drift and skew the issuer accepts (maxDriftSteps + timeSkewSteps): the
 *   live issuer, which stopped before this start, accepted no step beyond
 *   that. Exact: no code it accepted is accepted again. The holder's card
 *   is accepted again that many steps later (65 minutes at the defaults).
 * - counter cards: locked (as by failed verifies) until the holder resyncs
 *   with codes pressed now. Which counters the live issuer accepted after the
 *   backup is unknowable, and a single code may be any of them; a resync's
 *   codes are ones the card shows after the restore, which the live issuer
 *   never saw. Its resync back-off starts clear, so the first resync is
 *   evaluated at once (and a strong one always is).
 * - every card's pairing epoch moves forward by EPOCH_JUMP: the live issuer
 *   may have paired phones after the backup, and a card refuses a grant whose
 *   epoch is not above the one it holds, so a restored issuer that counted on
 *   from the backup would hand out epochs the card refuses (and the same
 *   device and epoch would give the same K_pair again). The issuer seq needs
 *   no jump: it never falls below the clock in seconds (payments.ts).
 *
 * The marker is removed once every card has been changed; a crash before
 * that applies the rule again on the next start, which changes nothing more.
 */
import { closeSync, openSync, unlinkSync } from "node:fs";
import { timeStep } from "../../firmware/core/otp.ts";
import { stateOf } from "./card.ts";
import type { Policy } from "./policy.ts";
import type { Store } from "./store/types.ts";

export const RESTORED = "restored_backup_at";
/** Cards changed at once: their changes share group commits. */
const CHUNK = 1024;
/** Pairings the live issuer may have made after the backup, at most: 2^16 (so 2^16 restores fit in a u32). */
export const EPOCH_JUMP = 65536;

/**
 * `inkcard issuer backup`: a consistent copy of a live SQLite database at
 * `out` (a new file, mode 0600), marked as a backup. SQLite's online backup
 * API reads committed data only, the WAL's included, while the issuer
 * serves; copying the file instead misses what the WAL holds.
 */
export async function backupSqlite(db: string, out: string, nowMs: number): Promise<void> {
  const { SqliteStore } = await import("./store/sqlite.ts");
  const { default: Database } = await import("better-sqlite3");
  const store = new SqliteStore(db, { create: false });
  closeSync(openSync(out, "wx", 0o600)); // never overwrite; SQLite fills the empty file and keeps its mode
  try {
    await store.migrate();
    await store.backup(out);
  } catch (e) {
    unlinkSync(out);
    throw e;
  } finally {
    await store.close();
  }
  const copy = new Database(out);
  try {
    copy.prepare("INSERT INTO issuer_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").run(RESTORED, String(nowMs));
  } finally {
    copy.close();
  }
}

/** Applies the rule above if the database is a restored backup; the number of cards changed. */
export async function applyRestoreRule(store: Store, policy: Policy, now: () => number): Promise<number> {
  const marker = await store.getMeta(RESTORED);
  if (marker === undefined) return 0;
  const backupAt = Number(marker) > 0 ? new Date(Number(marker)).toISOString() : "unknown time";
  const ids = await store.cardIds();
  for (let i = 0; i < ids.length; i += CHUNK) {
    await Promise.all(
      ids.slice(i, i + CHUNK).map((id) =>
        store.change(id, (card) => {
          const at = now();
          const state = stateOf(card);
          let detail: string;
          if (card.mode === "time") {
            state.lastStep = Math.max(card.lastStep, timeStep(at / 1000, card.step) + policy.maxDriftSteps + policy.timeSkewSteps);
            detail = `restored from a backup of ${backupAt}: steps up to ${state.lastStep} refused`;
          } else {
            Object.assign(state, { failures: Math.max(card.failures, policy.lockAfter), lastFailureAt: at, resyncFailures: 0, lastResyncFailureAt: 0 });
            detail = `restored from a backup of ${backupAt}: locked until a resync`;
          }
          return { state, audit: { at, cardId: id, event: "restore", outcome: "ok", caller: "restore", detail }, result: undefined };
        }),
      ),
    );
    await Promise.all(
      ids.slice(i, i + CHUNK).map((id) =>
        store.changeLink(id, undefined, (_card, link) => {
          const pairEpoch = Math.min(link.pairEpoch + EPOCH_JUMP, 0xffffffff);
          const detail = `restored from a backup of ${backupAt}: pairing epochs continue above ${pairEpoch}`;
          return { link: { issuerSeq: link.issuerSeq, pairEpoch }, audit: { at: now(), cardId: id, event: "restore", outcome: "ok", caller: "restore", detail }, result: undefined };
        }),
      ),
    );
  }
  await store.deleteMeta(RESTORED);
  return ids.length;
}
