/**
 * A card on the bench: the flash and Storage models, the FlashStore the
 * firmware's hal/storage.ts would give (over the model), a display that
 * records what it was asked to show, and provisioning helpers.
 */
import { createHash } from "node:crypto";
import type { Display, FlashStore, Hash, HashName } from "../../firmware/core/types.ts";
import { Card } from "../../firmware/core/card.ts";
import type { CardOptions } from "../../firmware/core/card.ts";
import { encodeProfile } from "../../firmware/core/profile.ts";
import type { Profile } from "../../firmware/core/profile.ts";
import { Flash, PowerCut } from "../../sim/board/flash.ts";
import { Storage } from "../../sim/board/storage.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";

export const PROFILE_FILE = "ink.prof";
export const COUNTER_PREFIX = "ink.ctr";
export const WIPE_MS = 60000;

/**
 * hal/storage.ts over the Storage model: Storage's exceptions become false,
 * except a PowerCut, which stops the card (on a card nothing runs after it).
 */
export function storeOver(storage: Storage): FlashStore {
  return {
    read: (name) => storage.readBytes(name),
    write: (name, data, offset, size) => {
      try {
        return storage.write(name, data, offset, size);
      } catch (e) {
        if (e instanceof PowerCut) throw e;
        return false;
      }
    },
    erase: (name) => storage.erase(name),
  };
}

export type Shown = { kind: "code"; code: string; caption: string } | { kind: "notIssued" } | { kind: "wipe" };

export class RecordingDisplay implements Display {
  readonly shown: Shown[] = [];
  showCode(code: string, caption: string): void {
    this.shown.push({ kind: "code", code, caption });
  }
  showNotIssued(): void {
    this.shown.push({ kind: "notIssued" });
  }
  wipe(): void {
    this.shown.push({ kind: "wipe" });
  }
  codes(): Array<{ code: string; caption: string }> {
    return this.shown.flatMap((s) => (s.kind === "code" ? [{ code: s.code, caption: s.caption }] : []));
  }
  last(): Shown | undefined {
    return this.shown[this.shown.length - 1];
  }
}

const SIZES: Record<HashName, [number, number]> = { SHA1: [64, 20], SHA256: [64, 32], SHA512: [128, 64] };

/**
 * The card's hashes on node:crypto: many times faster than @noble/hashes for
 * the power-cut test's thousands of boots, and independent of the nodeHash
 * the tests compute their expectations with.
 */
function cryptoHash(name: HashName): Hash {
  const alg = name.toLowerCase(); // sha1, sha256, sha512
  return {
    name,
    blockLen: SIZES[name][0],
    outputLen: SIZES[name][1],
    digest: (data) => new Uint8Array(createHash(alg).update(data).digest()),
  };
}

/** The hashes of a board: all three unless told otherwise. */
export function boardHashes(names: HashName[] = ["SHA1", "SHA256", "SHA512"]): (name: HashName) => Hash | undefined {
  const hashes = new Map(names.map((n) => [n, cryptoHash(n)]));
  return (name) => hashes.get(name);
}

/** A 32-byte test key 0x00..0x1f (no real card's key). */
export function testKey(len = 32): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => i);
}

export function testProfile(over: Partial<Profile> = {}): Profile {
  return {
    mode: "counter",
    algorithm: "SHA256",
    digits: 10,
    stepSeconds: 300,
    startCounter: 1000,
    cardId: "CARD-0001",
    key: testKey(),
    ...over,
  };
}

/** Write the profile as a provisioning tool would. */
export function provision(storage: Storage, p: Profile): Uint8Array {
  const bytes = encodeProfile(p, nodeHash("SHA256"));
  storage.write(PROFILE_FILE, bytes);
  return bytes;
}

export interface Rig {
  flash: Flash;
  storage: Storage;
  store: FlashStore;
  display: RecordingDisplay;
  card: Card;
  now: { t: number };
}

/** A card over flash (new flash when not given), not yet booted. */
export function rig(flash: Flash = new Flash({ strict: true }), over: Partial<CardOptions> = {}): Rig {
  const storage = new Storage(flash);
  const store = storeOver(storage);
  const display = new RecordingDisplay();
  const now = { t: 1_750_000_000 };
  const card = new Card({
    store,
    hashes: boardHashes(),
    clock: () => now.t,
    display,
    profileFile: PROFILE_FILE,
    counterPrefix: COUNTER_PREFIX,
    wipeAfterMs: WIPE_MS,
    ...over,
  });
  return { flash, storage, store, display, card, now };
}
