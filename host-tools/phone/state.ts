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
import { checkPhoneState, type PhoneState, type PhoneStore } from "./relay.ts";

/** Default place: $INKCARD_PHONE_STATE, else ~/.config/inkcard/phone.json. */
export function defaultStatePath(): string {
  return process.env.INKCARD_PHONE_STATE || join(homedir(), ".config", "inkcard", "phone.json");
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
    return checkPhoneState(parsed);
  }

  save(state: PhoneState): void {
    const checked = checkPhoneState(state);
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
