/**
 * The shape of espruino.config.js: the one description of the board.
 * Types only: host-tools/config.ts validates a config against it, and the build
 * injects the validated value into the bundle (firmware/board.ts).
 */
export interface BoardConfig {
  /** Espruino board name, e.g. "MDBT42Q" (nRF52832). */
  board: string;
  /** Hashes the board's require("crypto") offers. SHA512 only on some boards. */
  hashes: Array<"SHA1" | "SHA256" | "SHA512">;
  serial: { port: string; baud: number };
  button: { pin: string; activeLow: boolean; debounceMs: number; longPressMs: number };
  panel: {
    model: "SSD1681";
    width: number;
    height: number;
    spi: { sck: string; mosi: string; baud: number };
    cs: string;
    dc: string;
    rst: string;
    busy: string;
    /** One full refresh (against ghosting) after this many partial ones. */
    fullRefreshEvery: number;
    /** The code is wiped from the screen after this long, ms. */
    wipeAfterMs: number;
  };
  storage: {
    /** The card profile (key and code parameters). */
    profile: string;
    /** Prefix of the monotonic counter files. */
    counter: string;
    /** Prefix of the two files of the Bluetooth link's record (core/link.ts: pairing, sequence numbers). */
    link: string;
  };
}
