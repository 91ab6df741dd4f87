/**
 * The card's program. After boot nothing runs until the button is pressed;
 * then at most one timer, the one that wipes the code (and, for a moment,
 * the one that runs a press that waited, below).
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
 *
 * Presses while the panel refreshes (0.3-2 s; two presses within one are
 * ordinary use). Until the panel sleeps, the engine, the 5 KB frame and the
 * driver are all in RAM, about 2,000 of the card's 2,630 variables at the
 * peak: a press handled then (a code computed, a second frame drawn) ran the
 * card out of memory (issue 9). So nothing is done for a press then:
 *  - while the refresh under way shows a new code, a press is answered by
 *    that code and dropped. The holder pressed before the code appeared, and
 *    the counter does not move: each code shown moves it, and a counter
 *    moved by accidental presses beyond the issuer's look-ahead window costs
 *    the holder a resync (several codes in a row).
 *  - during any other refresh (the boot screen, a wipe, "not issued") one
 *    press is remembered and runs once the panel sleeps; further presses
 *    meanwhile are that same one. It runs from a timer of its own, not from
 *    the driver's last callback: the last engine is then off the stack and
 *    is collected before the next is built.
 * So a burst of presses makes at most one code per refresh, and each code
 * shown had its counter committed first (core/card.ts), as for any press.
 * A long press during a refresh is dropped (it does nothing yet). ink-code
 * (the tool's press, which must answer with a code) waits like a remembered
 * press and answers when it has run.
 *
 * Errors. Each event catches and reports its errors; core and the driver
 * leave no update half done when they throw (core/display.ts, hal/ssd1681.ts:
 * an update always ends, a dead panel by its BUSY timeout). Running out of
 * memory is different: Espruino interrupts the code wherever it is, and no
 * catch or finally runs. On the interpreter (issue 9) the engine of the
 * interrupted update was never dropped and its display stayed busy, so the
 * next press (and the wipe timer) queued behind an update that never ends;
 * 1,557 variables stayed in use after garbage collection, against 276
 * before, and the press after that ran out again, silently. (The Linux
 * build, which checks assertions, may exit instead; release builds do not
 * check them.) So Espruino's "errorFlag" event with MEMORY restarts the
 * program with load(): the boot code from flash, as at power-up, with
 * memory cleared, timers and watches gone and the screen redrawn blank. The
 * counter is in flash, so the next press shows the next code.
 * The nRF52's hardware watchdog is the backstop for code that never returns
 * to Espruino's idle loop: in auto mode Espruino kicks it each time it gets
 * there (and wakes from sleep in time to), so only a hang resets the chip.
 * Espruino's Linux build has no watchdog (E.enableWatchdog does nothing
 * there, targets/linux/jshardware.c), so the tests try the other paths.
 */
import type { Engine, EngineState } from "./engine-api";
import { watchButton } from "./hal/button";
import { isConsolePassword } from "./core/lock";

/** engine.ts's code wrapped in a function by the build: each call builds a new engine. */
declare function INKCARD_ENGINE(state: EngineState): Engine;

const state: EngineState = { sinceFull: 0, based: false, showing: false, updating: false, idle: onIdle, frame: 0 };
/** The engine while an event or a panel update uses it, else undefined. */
let engine: Engine | undefined;
/**
 * What waits for the panel to sleep (see above): 0 nothing, 1 a press, 2 ink-code (its answer
 * waits too). Numbers, not named constants: each constant would be a variable kept at idle.
 */
let waiting = 0;
/** The timer that runs what waited, or 0. */
let waitTimer = 0;

function open(): Engine {
  if (!engine) {
    // The last engine is garbage made of cycles (closures and their scopes), which only
    // Espruino's collector frees, and only when RAM is nearly full (it then flags LOW_MEMORY).
    // Collect it now (process.memory() does), so a new engine is never built beside its remains.
    process.memory();
    // Then the panel's frame, before the engine: the lowest free run of RAM, every time (engine.ts createSurface).
    const f = state.frame;
    if (f) state.surface = Graphics.createArrayBuffer(f >> 16, f & 65535, 1, { msb: true });
    engine = INKCARD_ENGINE(state);
  }
  return engine;
}

/** After each event: drop the engine unless the panel is still being updated (then idle() drops it). */
function close(): void {
  if (!state.updating) onIdle();
}

/** The engine and its frame are dropped (then a press that waited runs: it waited only during an update). */
function onIdle(): void {
  engine = undefined;
  delete state.surface;
  if (waiting && !waitTimer) waitTimer = setTimeout(onWaited, 0);
}

function onWaited(): void {
  waitTimer = 0;
  if (state.updating) return; // something else started first: idle() comes again
  const what = waiting;
  waiting = 0;
  if (what === 2) onCode(); // its press answers a waiting press too
  else press();
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
  if (!state.updating) press();
  else if (!state.showing && !waiting) waiting = 1; // else the code being drawn answers it
}

function onLongPress(): void {
  if (state.updating) return;
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
  let fields: object = {};
  try {
    fields = open().identify();
  } catch (e) {
    report("identify", e);
  }
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
  if (state.updating) {
    waiting = 2;
    return;
  }
  told = "";
  press(tell);
  reply({ code: told });
  told = "";
}

/** Out of memory left the program halfway (see above): start it again from flash. */
function onErrorFlag(flags: string[]): void {
  if (flags.indexOf("MEMORY") >= 0) load();
}

function boot(): void {
  // Auto mode: kicked from the idle loop, so only 30 s without returning there resets the chip
  // (a press takes about a second; flash erases kick it themselves).
  E.enableWatchdog(30);
  E.on("errorFlag", onErrorFlag); // first: memory can run out in the boot refresh too
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
  // No regular expression: Espruino's have no counted repetition ({20} never matches there).
  const password = require("Storage").read(e.lockFile);
  close();
  if (isConsolePassword(password)) {
    E.setPassword(password);
    E.lockConsole();
  }
}

boot();
