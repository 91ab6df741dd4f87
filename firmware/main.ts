/**
 * The card's program: the one place that builds the hal objects from the
 * board description and hands them to core. After boot nothing runs until
 * the button is pressed; then at most one timer, the one that wipes the code.
 *
 * Issuance (docs/provisioning.md) talks to the card over its serial console
 * through three events on E, emitted by the tool (`E.emit("ink-id")`): no
 * global of our own, and none of them hands out the key:
 *   ink-id       who the card is: firmware, board, chip serial, the live
 *                profile's digest, whether a profile is staged or a lock set
 *   ink-install  install the staged profile (core/card.ts install())
 *   ink-code     a button press that also tells the tool the code it showed
 * Each answers one line, `[inkcard {json} crc32]`. Once the tool has written
 * the lock file, every boot sets the console password and locks the console,
 * so an issued card runs nothing typed at it; Bluetooth offers no console.
 */
import { BOARD, FIRMWARE_VERSION } from "./board";
import { bytesToHex } from "./core/bytes";
import { Card } from "./core/card";
import { createDisplay } from "./core/display";
import { lockName } from "./core/profile";
import { watchButton } from "./hal/button";
import { clock } from "./hal/clock";
import { boardHashes } from "./hal/crypto";
import { Ssd1681 } from "./hal/ssd1681";
import { flashStore } from "./hal/storage";

const panelCfg = BOARD.panel;
const spi = new SPI();
spi.setup({ sck: panelCfg.spi.sck, mosi: panelCfg.spi.mosi, baud: panelCfg.spi.baud, mode: 0, order: "msb" });

function createSurface(width: number, height: number): Graphics {
  return Graphics.createArrayBuffer(width, height, 1, { msb: true });
}

const display = createDisplay({
  width: panelCfg.width,
  height: panelCfg.height,
  createSurface: createSurface,
  panel: new Ssd1681({
    spi: spi,
    cs: panelCfg.cs,
    dc: panelCfg.dc,
    rst: panelCfg.rst,
    busy: panelCfg.busy,
    width: panelCfg.width,
    height: panelCfg.height,
  }),
  fullRefreshEvery: panelCfg.fullRefreshEvery,
  decode: atob,
});

const card = new Card({
  store: flashStore,
  hashes: boardHashes(BOARD.hashes),
  clock: clock,
  display: display,
  profileFile: BOARD.storage.profile,
  counterPrefix: BOARD.storage.counter,
  wipeAfterMs: panelCfg.wipeAfterMs,
});

/** The wipe timer, or 0: one at a time. */
let wipeTimer = 0;

function onWipe(): void {
  wipeTimer = 0;
  card.wipe();
}

/** Core's errors name the step that failed (flash, panel), never a key or a code. */
function report(what: string, e: unknown): void {
  print(what + " failed: " + (e instanceof Error ? e.message : e));
}

function press(tell?: (code: string) => void): void {
  if (wipeTimer) clearTimeout(wipeTimer);
  wipeTimer = 0;
  let ms = 0;
  try {
    ms = card.press(tell);
  } catch (e) {
    report("press", e); // no code was shown; the next press tries again
  }
  if (ms > 0) wipeTimer = setTimeout(onWipe, ms);
}

function onShortPress(): void {
  press();
}

function onLongPress(): void {
  card.longPress();
}

/** One answer to the provisioning tool: JSON and its CRC-32, so a garbled line is told from a wrong one. */
function reply(fields: object): void {
  const json = JSON.stringify(fields);
  print("[inkcard " + json + " " + (E.CRC32(json) >>> 0).toString(16) + "]");
}

function profileHex(): string {
  const d = card.digest();
  return d ? bytesToHex(d) : "";
}

const lockFile = lockName(BOARD.storage.profile);

function onIdentify(): void {
  reply({
    fw: FIRMWARE_VERSION,
    board: BOARD.board,
    serial: getSerial(),
    profile: profileHex(),
    staged: card.staged(),
    locked: require("Storage").read(lockFile) !== undefined,
  });
}

function onInstall(): void {
  let ok = false;
  try {
    ok = card.install();
  } catch (e) {
    report("install", e);
  }
  reply({ installed: ok, profile: profileHex() });
}

/** The code of the last ink-code press, kept only until it is answered. */
let told = "";
function tell(code: string): void {
  told = code;
}

function onCode(): void {
  told = "";
  press(tell);
  reply({ code: told });
  told = "";
}

try {
  card.boot(); // shows "not issued" if it fails; a press tries again
} catch (e) {
  report("boot", e);
}
watchButton(BOARD.button, onShortPress, onLongPress);
E.on("ink-id", onIdentify);
E.on("ink-install", onInstall);
E.on("ink-code", onCode);
NRF.setServices({}, { uart: false }); // no console over Bluetooth, issued or not: issuance uses the serial line

// The tool writes the password (20 hex digits) as its last step; anything else there is a cut-off write.
const password = require("Storage").read(lockFile);
if (password !== undefined && /^[0-9a-f]{20}$/.test(password)) {
  E.setPassword(password);
  E.lockConsole();
}
