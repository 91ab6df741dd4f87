/**
 * The card's program. After boot nothing runs until the button is pressed;
 * then at most one timer, the one that wipes the code.
 *
 * Shell and engine: this file is the shell, the little that stays in RAM at
 * idle (the button watch, the three events below, the wipe timer and the
 * EngineState). Everything else, board settings, card, display, panel driver
 * and the core code they call, is the engine (engine.ts): the build puts its
 * code inside the function INKCARD_ENGINE (host-tools/build/build.ts), and
 * each event calls it to build the engine, uses it, and drops it once the
 * panel sleeps again. Espruino keeps a program's function objects in RAM
 * while their code stays in flash, so at idle the engine's functions do not
 * exist: the card idles at about a tenth of its RAM rather than almost half.
 * What must survive between engines (the refresh count, the panel's base
 * image, whether a code is shown) lives in `state`.
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
import type { Engine, EngineState } from "./engine-api";
import { watchButton } from "./hal/button";

/** engine.ts's code wrapped in a function by the build: each call builds a new engine. */
declare function INKCARD_ENGINE(state: EngineState): Engine;

const state: EngineState = { sinceFull: 0, based: false, showing: false, updating: false, idle: onIdle };
/** The engine while an event or a panel update uses it, else undefined. */
let engine: Engine | undefined;

function open(): Engine {
  if (!engine) {
    // The last engine is garbage made of cycles (closures and their scopes), which only
    // Espruino's collector frees, and only when RAM is nearly full (it then flags LOW_MEMORY).
    // Collect it now (process.memory() does), so a new engine is never built beside its remains.
    process.memory();
    engine = INKCARD_ENGINE(state);
  }
  return engine;
}

/** After each event: drop the engine unless the panel is still being updated (then idle() drops it). */
function close(): void {
  if (!state.updating) engine = undefined;
}

function onIdle(): void {
  engine = undefined;
}

/** The wipe timer, or 0: one at a time. */
let wipeTimer = 0;

function onWipe(): void {
  wipeTimer = 0;
  try {
    open().card.wipe();
  } catch (e) {
    report("wipe", e);
  }
  close();
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
    ms = open().card.press(tell);
  } catch (e) {
    report("press", e); // no code was shown; the next press tries again
  }
  close();
  if (ms > 0) wipeTimer = setTimeout(onWipe, ms);
}

function onShortPress(): void {
  press();
}

function onLongPress(): void {
  try {
    open().card.longPress();
  } catch (e) {
    report("long press", e);
  }
  close();
}

/** One answer to the provisioning tool: JSON and its CRC-32, so a garbled line is told from a wrong one. */
function reply(fields: object): void {
  const json = JSON.stringify(fields);
  print("[inkcard " + json + " " + (E.CRC32(json) >>> 0).toString(16) + "]");
}

function onIdentify(): void {
  const fields = open().identify();
  close();
  reply(fields);
}

function onInstall(): void {
  const e = open();
  let ok = false;
  try {
    ok = e.card.install();
  } catch (x) {
    report("install", x);
  }
  const profile = e.profileHex();
  close();
  reply({ installed: ok, profile: profile });
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

function boot(): void {
  const e = open();
  try {
    e.card.boot(); // shows "not issued" if it fails; a press tries again
  } catch (x) {
    report("boot", x);
  }
  watchButton(e.button, onShortPress, onLongPress);
  E.on("ink-id", onIdentify);
  E.on("ink-install", onInstall);
  E.on("ink-code", onCode);
  NRF.setServices({}, { uart: false }); // no console over Bluetooth, issued or not: issuance uses the serial line

  // The tool writes the password (20 hex digits) as its last step; anything else there is a cut-off write.
  const password = require("Storage").read(e.lockFile);
  close();
  if (password !== undefined && /^[0-9a-f]{20}$/.test(password)) {
    E.setPassword(password);
    E.lockConsole();
  }
}

boot();
