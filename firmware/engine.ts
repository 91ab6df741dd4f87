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
import { lockName } from "./core/profile";
import { SCREEN_BLANK, SCREEN_CODE, SCREEN_NOT_ISSUED } from "./core/screen-kinds";
import { clock } from "./hal/clock";
import { boardHashes } from "./hal/crypto";
import { flashStore } from "./hal/storage";
import type { Engine, EngineState } from "./engine-api";

/** The wrapper's parameter. */
declare const INKCARD_STATE: EngineState;
/** What the wrapper returns. */
declare let INKCARD_ENGINE_OUT: Engine;

const state = INKCARD_STATE;
/** Set by make(); module-level so that the functions below do not keep make()'s scope, and the board with it. */
let card: Card | undefined;
let boardName = "";
let lockFile = "";

function profileHex(): string {
  const d = (card as Card).digest();
  return d ? bytesToHex(d) : "";
}

function identify(): object {
  return {
    fw: FIRMWARE_VERSION,
    board: boardName,
    serial: getSerial(),
    profile: profileHex(),
    staged: (card as Card).staged(),
    locked: flashStore.read(lockFile) !== undefined,
  };
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

/** Everything from the board settings; what is not handed on is garbage when this returns. */
function make(): Engine {
  const board = readBoard();
  card = new Card({
    store: flashStore,
    hashes: boardHashes(board.hashes),
    clock: clock,
    display: display,
    profileFile: board.storage.profile,
    counterPrefix: board.storage.counter,
    wipeAfterMs: board.panel.wipeAfterMs,
    state: state,
  });
  boardName = board.board;
  lockFile = lockName(board.storage.profile);
  return { card: card, button: board.button, lockFile: lockFile, identify: identify, profileHex: profileHex };
}

INKCARD_ENGINE_OUT = make();
