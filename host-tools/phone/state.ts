/**
 * The CLI phone's state in a JSON file (relay.ts PhoneStore): the device id,
 * made once (16 random bytes), and per card the link id, pairing epoch,
 * K_pair and the last seq sealed. It holds pair keys: the file is created
 * 0600 and every save replaces it whole (a temporary file in the same
 * directory, fsync, rename), so a crash leaves the old state or the new,
 * never half of one, and a seq saved is a seq never sealed again.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { homedir } from "node:os";
import type { CardLink, PhoneState, PhoneStore } from "./relay.ts";

/** Default place: $INKCARD_PHONE_STATE, else ~/.config/inkcard/phone.json. */
export function defaultStatePath(): string {
  return process.env.INKCARD_PHONE_STATE || join(homedir(), ".config", "inkcard", "phone.json");
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;

function isU32(n: unknown, min: number): n is number {
  return Number.isInteger(n) && (n as number) >= min && (n as number) <= 0xffffffff;
}

/** The state read back, checked field by field; throws naming the field, never its value. */
export function checkState(v: unknown): PhoneState {
  const o = v as PhoneState;
  if (!o || typeof o !== "object") throw new Error("phone state: not an object");
  if (typeof o.deviceId !== "string" || !HEX32.test(o.deviceId)) throw new Error("phone state: deviceId must be 32 hex digits");
  if (!o.cards || typeof o.cards !== "object" || Array.isArray(o.cards)) throw new Error("phone state: cards must be an object");
  const cards: Record<string, CardLink> = {};
  for (const [k, c] of Object.entries(o.cards)) {
    if (!c || typeof c !== "object") throw new Error(`phone state: card ${k} is not an object`);
    if (!isU32(c.linkId, 1) || k !== c.linkId.toString(16).padStart(8, "0")) throw new Error(`phone state: card ${k} has a bad linkId`);
    if (!isU32(c.epoch, 1)) throw new Error(`phone state: card ${k} has a bad epoch`);
    if (typeof c.pairKey !== "string" || !HEX64.test(c.pairKey)) throw new Error(`phone state: card ${k} has a bad pairKey`);
    if (!isU32(c.seq, 0)) throw new Error(`phone state: card ${k} has a bad seq`);
    cards[k] = { linkId: c.linkId, epoch: c.epoch, pairKey: c.pairKey, seq: c.seq };
  }
  return { deviceId: o.deviceId, cards };
}

export class FileStore implements PhoneStore {
  constructor(readonly path: string = defaultStatePath()) {}

  /** The state; a new one (a fresh device id, saved at once) when the file does not exist. */
  load(): PhoneState {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      const fresh: PhoneState = { deviceId: randomBytes(16).toString("hex"), cards: {} };
      this.save(fresh);
      return fresh;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`phone state ${this.path} is not JSON`);
    }
    return checkState(parsed);
  }

  save(state: PhoneState): void {
    const checked = checkState(state);
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    // O_EXCL: never write through a file someone else put there; 0600 from the first byte.
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, JSON.stringify(checked, null, 2) + "\n");
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    try {
      renameSync(tmp, this.path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    // The rename is durable once the directory is synced.
    try {
      const dfd = openSync(dirname(this.path), "r");
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // some filesystems refuse fsync on a directory
    }
  }
}
