/**
 * The card's engine: what a press, a wipe and issuance need (board
 * settings, card, profile, counter, hashes), built from nothing each time
 * main.ts (the shell) opens it and dropped by the shell as soon as the event
 * is handled. It draws nothing: the screen it decides on waits in
 * state.show, and the shell has the panel engine (panel-engine.ts) draw it
 * once this one is gone, so that the card's code and the panel's (with its
 * 5 KB frame) are never in RAM together.
 *
 * Why engines: Espruino keeps every function object, class and closure of a
 * loaded program in RAM for good (about 7 variables per function), while the
 * function's code stays in flash. The build (host-tools/build/build.ts)
 * places this module's code inside one function, INKCARD_ENGINE(state),
 * that main.ts calls; so at idle none of the functions below exist. What
 * must outlive one engine lives in the shell's EngineState.
 *
 * This file is the body of that function, not an ordinary module: it reads
 * the function's parameter INKCARD_STATE and hands the engine back in
 * INKCARD_ENGINE_OUT, which the function returns. It exports nothing (an
 * export would make esbuild emit module.exports): its types are in engine-api.ts.
 */
import { FIRMWARE_VERSION, readBoard } from "./board";
import { bytesToHex } from "./core/bytes";
import { Card } from "./core/card";
import { SLOTS, activeFile, activeSlot, installSlot, slotCounter, slotProfile } from "./core/personal";
import { lockName, readProfile } from "./core/profile";
import { SCREEN_BLANK, SCREEN_CODE, SCREEN_NOT_ISSUED, SCREEN_PROFILE } from "./core/screen-kinds";
import type { Hash, HashName } from "./core/types";
import { clock } from "./hal/clock";
import { boardHashes } from "./hal/crypto";
import { flashStore } from "./hal/storage";
import type { BoardConfig } from "./board-config";
import type { Engine, EngineState } from "./engine-api";

/** The wrapper's parameter. */
declare const INKCARD_STATE: EngineState;
/** What the wrapper returns. */
declare let INKCARD_ENGINE_OUT: Engine;

const state = INKCARD_STATE;
/** Set by make(); module-level so that the functions below do not keep make()'s scope, and the board with it. */
let board: BoardConfig;
let hashes: (name: HashName) => Hash | undefined;
/** The active slot's card (presses), and slot 0's (issuance: the profile the serial line writes). */
let card: Card;
let issued: Card | undefined;
let slot = 0;
let boardName = "";
let lockFile = "";

function cardFor(n: number): Card {
  return new Card({
    store: flashStore,
    hashes: hashes,
    clock: clock,
    display: display,
    profileFile: slotProfile(board.storage.profile, n),
    counterPrefix: slotCounter(board.storage.counter, n),
    wipeAfterMs: board.panel.wipeAfterMs,
    state: state,
  });
}

function issuedCard(): Card {
  return issued || (issued = slot ? cardFor(0) : card);
}

function profileHex(): string {
  const d = issuedCard().digest();
  return d ? bytesToHex(d) : "";
}

function identify(): object {
  return {
    fw: FIRMWARE_VERSION,
    board: boardName,
    serial: getSerial(),
    profile: profileHex(),
    staged: issuedCard().staged(),
    locked: flashStore.read(lockFile) !== undefined,
  };
}

/** Power-up: finish any install a cut interrupted (slot 0's staged profile, the slots' staged writes), then the active slot. */
function boot(): void {
  for (let i = 1; i < SLOTS; i++) installSlot(flashStore, hashes("SHA256") as Hash, board.storage.profile, i);
  if (slot) issuedCard().install();
  card.boot();
}

/**
 * Long press: the next slot that holds a valid profile becomes the active
 * one, and the screen names it (not secret: it stays until the next press).
 * Nothing happens on a card with one profile. Returns 0: no wipe to arm.
 */
function longPress(): number {
  const base = board.storage.profile;
  const sha = hashes("SHA256") as Hash;
  for (let i = 1; i < SLOTS; i++) {
    const n = (slot + i) % SLOTS;
    const p = readProfile(flashStore.read(slotProfile(base, n)), sha);
    if (!p) continue;
    const b = new Uint8Array(1);
    b[0] = n;
    if (!flashStore.write(activeFile(base), b, 0, 1)) return 0;
    slot = n;
    state.show = { kind: SCREEN_PROFILE, value: ["CARD " + n, p.cardId] };
    return 0;
  }
  return 0;
}

/** The card's Display: each screen is asked for, for the panel engine to draw. */
const display = {
  showCode(code: string, caption: string): void {
    state.show = { kind: SCREEN_CODE, value: { code: code, caption: caption } };
  },
  showNotIssued(): void {
    state.show = { kind: SCREEN_NOT_ISSUED, value: null };
  },
  wipe(): void {
    state.show = { kind: SCREEN_BLANK, value: null };
  },
};

/** Everything from the board settings, for the active slot. */
function make(): Engine {
  board = readBoard();
  hashes = boardHashes(board.hashes);
  slot = activeSlot(flashStore, board.storage.profile);
  card = cardFor(slot);
  boardName = board.board;
  lockFile = lockName(board.storage.profile);
  return { card: card, issued: issuedCard, button: board.button, lockFile: lockFile, identify: identify, profileHex: profileHex, boot: boot, longPress: longPress };
}

INKCARD_ENGINE_OUT = make();
