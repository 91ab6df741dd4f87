/**
 * What `inkcard issuer export` exports: every issued card (the store's issuance table),
 * with its record from the issuer's store and its key derived from the
 * master key. Kept apart from export.ts so the command's help stays instant.
 */
import { readFileSync, statSync } from "node:fs";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import type { ExportCard } from "./export.ts";
import { checkMasterKey, DerivedKeys, loadMasterKey, MASTER_KEY_ENV } from "./keys.ts";
import { isPostgresUrl, openStore } from "./store/open.ts";

/** A key file of `bytes` bytes as hex, readable by its owner only. Messages never show its content. */
export function readKeyFile(file: string, bytes: number, what: string): Uint8Array {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    throw new Error(`cannot read ${what} ${file}`);
  }
  if (mode & 0o077) throw new Error(`${what} ${file} is readable by others: chmod 600 it`);
  const hex = readFileSync(file, "utf8").trim();
  if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(hex)) throw new Error(`${what} ${file} must hold ${bytes * 2} hex characters`);
  return hexToBytes(hex);
}

export async function collect(db: string, master: { file?: string; dev?: boolean }): Promise<ExportCard[]> {
  const masterKey = loadMasterKey({
    env: process.env[MASTER_KEY_ENV],
    file: master.file,
    dev: master.dev,
    devFile: isPostgresUrl(db) || db === ":memory:" ? "inkcard-dev.master-key" : `${db}.master-key`,
  });
  const keys = new DerivedKeys(masterKey);
  const store = await openStore(db, { create: false });
  try {
    await checkMasterKey(store, masterKey); // keys under another master key would be exported as if they were the cards'
  } catch (e) {
    await store.close();
    throw e;
  } finally {
    masterKey.fill(0);
  }
  try {
    const out: ExportCard[] = [];
    for (const row of await store.issuedCards()) {
      const card = await store.getCard(row.cardId);
      if (!card || card.blocked) continue; // a blocked card must not verify anywhere
      out.push({
        cardId: card.id,
        chipSerial: row.chipSerial,
        mode: card.mode,
        algorithm: card.algorithm,
        digits: card.digits,
        step: card.step,
        counter: card.nextCounter,
        key: Uint8Array.from(keys.cardKey(card)),
      });
    }
    return out;
  } finally {
    await store.close();
  }
}
