/**
 * The card's program. After boot nothing runs until the button is pressed;
 * then at most one timer, the one that wipes the code (and, for a moment,
 * the one that runs a press that waited, below).
 *
 * Shell and engines: this file is the shell, the little that stays in RAM
 * at idle (the button watch, the events below, the wipe timer and the
 * EngineState). Everything else is in one of three engines, each built from
 * its code in flash when needed and dropped after: the card's (engine.ts:
 * profile, counter, codes, issuance), the link's (link-engine.ts: the
 * Bluetooth link of document C) and the panel's (panel-engine.ts: display,
 * driver, screens, fonts). The build puts each one's code inside a function
 * (INKCARD_ENGINE, INKCARD_LINK, INKCARD_PANEL; host-tools/build/build.ts)
 * and build() below calls it. Espruino keeps a program's function objects
 * in RAM while their code stays in flash, so at idle no engine's functions
 * exist, and there is never more than one engine in RAM: the card's and
 * the link's decide what to show and ask for it (state.show, a number from
 * core/screen-kinds.ts and its argument), and finish() drops them before it
 * builds the panel's to draw it. What must survive between engines (the
 * refresh count, the panel's base image, whether a code is shown, the
 * link's state) lives in `state`.
 *
 * Issuance (docs/provisioning.md) talks to the card over its serial console
 * through three events on E, emitted by the tool (`E.emit("ink-id")`): no
 * global of our own, and none of them hands out the key:
 *   ink-id       who the card is: firmware, board, chip serial, the live
 *                profile's digest, whether a profile is staged or a lock set
 *   ink-install  install the staged profile (core/card.ts install())
 *   ink-code     a button press that also tells the tool the code it showed
 * Each answers one line, `[inkcard {json} crc32]`, once a panel refresh under
 * way has ended (the card's engine is never built beside the panel's; the
 * tool waits for it). Once the tool has written
 * the lock file, every boot sets the console password and locks the console,
 * so an issued card runs nothing typed at it; Bluetooth offers no console.
 *
 * Presses while the panel refreshes (0.3-2 s; two presses within one are
 * ordinary use). Until the panel sleeps, the panel engine and its 5 KB frame
 * are in RAM: a press handled then (a code computed, a second frame drawn)
 * ran the card out of memory (issue 9). So nothing is done for a press then:
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
 * A long press during a refresh is dropped (it switches profiles: the holder
 * holds again). ink-code
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
import type { Engine, EngineState, PanelEngine } from "./engine-api";
import type { CardLink } from "./core/link";
import { DEFAULT_WRITE, MAX_FRAGMENTS } from "./core/frames";
import { watchButton } from "./hal/button";
import { declareLinkService } from "./hal/ble";
import { isConsolePassword } from "./core/lock";

/** engine.ts's code wrapped in a function by the build: each call builds a new card engine. */
declare function INKCARD_ENGINE(state: EngineState): Engine;
/** link-engine.ts's, the same way: the Bluetooth link's engine. */
declare function INKCARD_LINK(state: EngineState): CardLink;
/** panel-engine.ts's: the panel's. */
declare function INKCARD_PANEL(state: EngineState): PanelEngine;

/** Which engine build() makes. */
const CARD = 1;
const LINK = 2;
const PANEL = 3;

const state: EngineState = { sinceFull: 0, based: false, showing: false, updating: false, idle: onIdle, frame: 0, wipeIn: 0 };
/** The one engine in RAM, or undefined; `built` says which (CARD, LINK, PANEL; 0 none). */
let engine: Engine | CardLink | PanelEngine | undefined;
let built = 0;
/**
 * What waits for the panel to sleep (see above): bit 1 a press, bit 2 ink-code (its answer
 * waits too; never with bit 1), bit 4 the wipe timer's wipe, bit 8 ink-id, bit 16 ink-install.
 */
let waiting = 0;
/** The timer that runs what waited, or 0. */
let waitTimer = 0;

/**
 * The engine `which` (CARD, LINK or PANEL), built unless it is the one in RAM; the other goes
 * first. Never called for the card's or the link's while the panel is updating: what comes
 * then waits (above).
 */
function build(which: number): unknown {
  if (built !== which) {
    engine = undefined;
    built = 0;
    // The last engine is garbage made of cycles (closures and their scopes), which only
    // Espruino's collector frees, and only when RAM is nearly full (it then flags LOW_MEMORY).
    // Collect it now (process.memory() does), so a new engine is never built beside its remains.
    process.memory();
    if (which === PANEL) {
      // The frame before the engine: the lowest free run of RAM, every time (panel-engine.ts createSurface).
      const f = state.frame;
      if (f) state.surface = Graphics.createArrayBuffer(f >> 16, f & 65535, 1, { msb: true });
      engine = INKCARD_PANEL(state);
    } else {
      engine = which === CARD ? INKCARD_ENGINE(state) : INKCARD_LINK(state);
    }
    built = which;
  }
  return engine;
}

/**
 * After the card's or the link's engine has run: arm the wipe it asked for, and draw the screen it
 * asked for with the panel engine, which replaces it. The card's engine never outlives its event;
 * the link's stays while the phone writes, until another is built.
 */
function finish(): void {
  // (Callers hold no engine in a variable of their own: it would stay in RAM beside the panel's.)
  if (built === CARD) {
    engine = undefined;
    built = 0;
  }
  if (state.wipeIn) {
    if (wipeTimer) clearTimeout(wipeTimer);
    wipeTimer = setTimeout(onWipe, state.wipeIn);
    state.wipeIn = 0;
  }
  const s = state.show;
  if (!s) return;
  state.show = undefined; // what the screen shows is not kept once drawn
  try {
    (build(PANEL) as PanelEngine).draw(s);
  } catch (e) {
    report("screen", e);
  }
  if (!state.updating) onIdle(); // nothing under way: the draw failed
}

/** The panel sleeps: its engine and frame are dropped, and what waited runs. */
function onIdle(): void {
  if (built === PANEL) {
    engine = undefined;
    built = 0;
  }
  delete state.surface;
  if ((waiting || held.length || heldKey) && !waitTimer) waitTimer = setTimeout(onWaited, 0);
}

function onWaited(): void {
  waitTimer = 0;
  // In the order they came, near enough: each may start an update, and then the rest waits for the next idle().
  if (heldKey && !state.updating) {
    const k = heldKey;
    heldKey = "";
    onPasskey(k);
  }
  while (held.length && !state.updating) linkWrite(held.shift() as Uint8Array);
  if (waiting & 4 && !state.updating) {
    waiting &= ~4;
    onWipe();
  }
  if (waiting & 8 && !state.updating) {
    waiting &= ~8;
    onIdentify();
  }
  if (waiting & 16 && !state.updating) {
    waiting &= ~16;
    onInstall();
  }
  if (state.updating || !(waiting & 3)) return; // something started first: idle() comes again
  const what = waiting & 3;
  waiting &= ~3;
  if (what === 2) onCode(); // its press answers a waiting press too
  else press();
}

/** The wipe timer, or 0: one at a time. */
let wipeTimer = 0;

function onWipe(): void {
  wipeTimer = 0;
  if (state.updating) {
    waiting |= 4;
    return;
  }
  try {
    // A link screen goes with what it showed (the payment); else the card takes its code off.
    if (state.link && state.link.linkShown) (build(LINK) as CardLink).wipe();
    else (build(CARD) as Engine).card.wipe();
  } catch (e) {
    report("wipe", e);
  }
  finish();
}

/** Core's errors name the step that failed (flash, panel), never a key or a code. */
function report(what: string, e: unknown): void {
  print(what + " failed: " + (e instanceof Error ? e.message : e));
}

function press(tell?: (code: string) => void): void {
  // A payment on the screen: the press confirms it (decide() says false when it has expired).
  if (!tell && state.link && state.link.payment && decide(true)) return;
  if (wipeTimer) clearTimeout(wipeTimer);
  wipeTimer = 0;
  try {
    state.wipeIn = (build(CARD) as Engine).card.press(tell);
  } catch (e) {
    report("press", e); // no code was shown; the next press tries again
  }
  finish();
}

function onShortPress(): void {
  if (!state.updating) press();
  else if (!state.showing && !(waiting & 3)) waiting |= 1; // else the code being drawn answers it
}

function onLongPress(): void {
  if (state.updating) return;
  if (state.link && state.link.payment && decide(false)) return;
  try {
    state.wipeIn = (build(CARD) as Engine).longPress();
  } catch (e) {
    report("long press", e);
  }
  finish();
}

/** One answer to the provisioning tool: JSON and its CRC-32, so a garbled line is told from a wrong one. */
function reply(fields: object): void {
  const json = JSON.stringify(fields);
  print("[inkcard " + json + " " + (E.CRC32(json) >>> 0).toString(16) + "]");
}

function onIdentify(): void {
  if (state.updating) {
    waiting |= 8; // the card's engine is never built beside the panel's
    return;
  }
  let fields: object = {};
  try {
    fields = (build(CARD) as Engine).identify();
  } catch (e) {
    report("identify", e);
  }
  finish();
  reply(fields);
}

function onInstall(): void {
  if (state.updating) {
    waiting |= 16;
    return;
  }
  let ok = false;
  let profile = "";
  try {
    ok = (build(CARD) as Engine).issued().install();
    profile = (build(CARD) as Engine).profileHex(); // the same engine
  } catch (x) {
    report("install", x);
  }
  finish();
  reply({ installed: ok, profile: profile });
}

/** The code of the last ink-code press, kept only until it is answered. */
let told = "";
function tell(code: string): void {
  told = code;
}

function onCode(): void {
  if (state.updating) {
    waiting = (waiting & ~3) | 2;
    return;
  }
  told = "";
  press(tell);
  reply({ code: told });
  told = "";
}

// ---- The link (document C, docs/dynamic-data.md "The card's service") ----------------------------
//
// The link engine (link-engine.ts, core/link.ts) is built at a phone's write and kept while the
// phone writes, until another engine is built. Writes that come while the panel refreshes are held,
// at most a frame's worth, and run once it sleeps; past that the phone's resend covers them.

/** Writes held during a refresh, and a passkey to show. */
const held: Uint8Array[] = [];
let heldKey = "";

function linkWrite(data: Uint8Array): void {
  try {
    (build(LINK) as CardLink).write(data);
  } catch (e) {
    report("link", e); // core never throws on received bytes: a bug or a flash failure
  }
  finish();
}

function onLinkWrite(evt: { data: ArrayBuffer }): void {
  const data = new Uint8Array(evt.data);
  if (!state.updating) linkWrite(data);
  else if (held.length < MAX_FRAGMENTS) held.push(data);
}

/** Connected or disconnected: a new link starts with nothing under way and 20-byte notifications. */
function onLinkChange(): void {
  if (built === LINK) {
    engine = undefined;
    built = 0;
  }
  held.length = 0;
  if (state.link) state.link.notifySize = DEFAULT_WRITE;
}

function onPasskey(key: string): void {
  if (state.updating) {
    heldKey = key;
    return;
  }
  try {
    (build(LINK) as CardLink).passkey(key);
  } catch (e) {
    report("passkey", e);
  }
  finish();
}

/** The holder's decision on the payment shown (press: confirm, long press: decline); false when there was none to make. */
function decide(confirm: boolean): boolean {
  let done = false;
  try {
    done = confirm ? (build(LINK) as CardLink).confirm() : (build(LINK) as CardLink).decline();
  } catch (e) {
    report("payment", e);
  }
  if (!done && state.link) state.link.payment = null; // nothing to decide on: an ordinary press
  finish();
  return done;
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
  try {
    (build(CARD) as Engine).boot(); // asks for "not issued" if it fails; a press tries again
  } catch (x) {
    report("boot", x);
  }
  watchButton((build(CARD) as Engine).button, onShortPress, onLongPress); // the same engine
  // The tool writes the password (20 hex digits) as its last step; anything else there is a cut-off write.
  // No regular expression: Espruino's have no counted repetition ({20} never matches there).
  const password = require("Storage").read((build(CARD) as Engine).lockFile);
  finish(); // the boot screen
  E.on("ink-id", onIdentify);
  E.on("ink-install", onInstall);
  E.on("ink-code", onCode);
  // The link's service, and no console over Bluetooth, issued or not: issuance uses the serial line.
  declareLinkService(onLinkWrite);
  NRF.on("connect", onLinkChange);
  NRF.on("disconnect", onLinkChange);
  NRF.on("passkey", onPasskey);
  if (isConsolePassword(password)) {
    E.setPassword(password);
    E.lockConsole();
  }
}

boot();
