/**
 * The phone page's state (relay.ts PhoneStore) in the browser's localStorage:
 * the device id, made once (16 random bytes from crypto.getRandomValues), and
 * per card the link id, pairing epoch, K_pair and the last seq sealed. The
 * relay saves a payment's seq before its first write; setItem is synchronous,
 * so the seq is in the browser's store before the frame goes out.
 *
 * localStorage is per origin: the page served by the simulator and the page
 * served by the issuer are two phones, each with its own device id. What is
 * read back is checked field by field (a page of the same origin, or the
 * holder, can edit it); errors name the field, never its value.
 * Browser-safe: no Node imports.
 */
import { checkPhoneState, type PhoneState, type PhoneStore } from "../relay.ts";

/** What the store needs of localStorage (a Map stands in for it in a test). */
export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const STATE_KEY = "inkcard.phone.v1";

function randomHex(n: number): string {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export class BrowserStore implements PhoneStore {
  constructor(
    private readonly kv: KeyValue,
    private readonly key = STATE_KEY,
  ) {}

  /** The state; a fresh one (a new device id, saved at once) when there is none. */
  load(): PhoneState {
    const text = this.kv.getItem(this.key);
    if (text === null) {
      const fresh: PhoneState = { deviceId: randomHex(16), cards: {} };
      this.save(fresh);
      return fresh;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error("phone state: the stored state is not JSON (clear it to start again: the phone then pairs again)");
    }
    return checkPhoneState(parsed);
  }

  /** Throws when the browser refuses (storage full, or disabled): the relay then sends nothing. */
  save(state: PhoneState): void {
    this.kv.setItem(this.key, JSON.stringify(checkPhoneState(state)));
  }
}
