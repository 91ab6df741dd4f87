/**
 * The issuer master key and the card keys derived from it.
 *
 * The master key comes from INKCARD_MASTER_KEY or a key file (64 hex
 * characters), never from the database; no message here ever contains it.
 * Card keys are derived with the KDF of firmware/core/dcvv.ts (docs/codes.md)
 * and kept in a bounded in-memory cache, never written anywhere.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import { deriveCardKey, MASTER_KEY_BYTES } from "../../firmware/core/dcvv.ts";
import type { CardRecord } from "./card.ts";
import { fastHash } from "./fast-hash.ts";
import type { Store } from "./store/types.ts";

export const MASTER_KEY_ENV = "INKCARD_MASTER_KEY";

const HEX64 = /^[0-9a-fA-F]{64}$/;

function parseKey(text: string, where: string): Uint8Array {
  const hex = text.trim();
  if (!HEX64.test(hex)) throw new Error(`${where} must hold ${MASTER_KEY_BYTES * 2} hex characters (a 256-bit key)`);
  const key = hexToBytes(hex);
  if (isWeakKey(key)) throw new Error(`${where} holds a weak key (one byte repeated): make one with openssl rand -hex 32`);
  return key;
}

/** All one byte (zeros, 0xff...): a placeholder, not a key. */
export function isWeakKey(key: Uint8Array): boolean {
  return key.every((b) => b === key[0]);
}

/**
 * The master key's check value: HMAC-SHA256 of a fixed label, 128 bits, hex.
 * Stored in the database at its first start (issuer_meta); it tells whether
 * a key is the one the cards were issued under, and reveals nothing of it.
 */
export function keyCheckValue(masterKey: Uint8Array): string {
  return createHmac("sha256", masterKey).update("inkcard issuer master key check v1").digest("hex").slice(0, 32);
}

export const KEY_CHECK = "master_key_check";

/**
 * Records the key's check value if the database has none (a new database,
 * or one from before check values: the first key it starts with), and
 * refuses a key whose check value is another: with the wrong key every
 * genuine code would be refused, and its holders counted as guessers.
 */
export async function checkMasterKey(store: Store, masterKey: Uint8Array): Promise<void> {
  const value = keyCheckValue(masterKey);
  const stored = await store.setMetaIfAbsent(KEY_CHECK, value);
  if (stored !== value) {
    throw new Error(
      `the master key is not the one this issuer database was created with (its check value differs): ` +
        `start it with that key (${MASTER_KEY_ENV} or --master-key-file); nothing was changed`,
    );
  }
}

export interface MasterKeyOptions {
  /** Value of INKCARD_MASTER_KEY, if set. */
  env?: string | undefined;
  /** --master-key-file */
  file?: string | undefined;
  /** --dev: create `devFile` (mode 0600) when no key is given, or reuse it. */
  dev?: boolean | undefined;
  devFile?: string | undefined;
}

/** The master key, or an Error that says what to do (and never shows key material). */
export function loadMasterKey(o: MasterKeyOptions, notice: (msg: string) => void = () => {}): Uint8Array {
  const env = o.env === "" ? undefined : o.env;
  if (env !== undefined && o.file) throw new Error(`both ${MASTER_KEY_ENV} and --master-key-file are set: give one`);
  if (env !== undefined) return parseKey(env, MASTER_KEY_ENV);
  const file = o.file ?? (o.dev ? o.devFile : undefined);
  if (!file) {
    throw new Error(
      `no issuer master key: set ${MASTER_KEY_ENV} to 64 hex characters or pass --master-key-file FILE ` +
        "(or --dev to create a development key file)",
    );
  }
  if (o.dev && !exists(file)) {
    writeFileSync(file, randomBytes(MASTER_KEY_BYTES).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
    notice(`created development master key file ${file} (mode 0600)`);
  }
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    throw new Error(`cannot read master key file ${file}`);
  }
  if (mode & 0o077) throw new Error(`master key file ${file} is readable by others: chmod 600 it`);
  return parseKey(readFileSync(file, "utf8"), `master key file ${file}`);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Where the issuer gets a card's key. Production derives it; tests may supply known keys. */
export interface KeySource {
  cardKey(card: CardRecord): Uint8Array;
}

/** Card keys derived from the master key, with a bounded cache (derivation costs 4 SHA-256 HMACs). */
export class DerivedKeys implements KeySource {
  private readonly master: Uint8Array;
  private readonly cache = new Map<string, Uint8Array>();

  constructor(masterKey: Uint8Array, private readonly cacheSize = 100_000) {
    if (!(masterKey instanceof Uint8Array) || masterKey.length !== MASTER_KEY_BYTES) {
      throw new Error(`master key must be ${MASTER_KEY_BYTES} bytes`);
    }
    this.master = Uint8Array.from(masterKey);
  }

  cardKey(card: CardRecord): Uint8Array {
    let key = this.cache.get(card.id);
    if (!key) {
      key = deriveCardKey(fastHash("SHA256"), this.master, card, card.algorithm);
      // Map keeps insertion order: dropping the first entry evicts the oldest.
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(card.id, key);
    }
    return key;
  }
}
