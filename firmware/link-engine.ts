/**
 * The link engine: the card's side of the Bluetooth link (document C,
 * core/link.ts) with the board's flash, clock, native SHA-256 and NRF,
 * built by main.ts (the shell) when a phone writes or the holder decides on
 * a payment, and kept while the phone writes, until the shell builds
 * another engine (never two at once). Like engine.ts this file is the body
 * of a function (INKCARD_LINK, host-tools/build/build.ts): it reads
 * INKCARD_STATE and hands the link back in INKCARD_ENGINE_OUT.
 *
 * What outlives it is in the shell's state: the link's own (state.link:
 * flood guard, the payment shown, the last answer), a screen to draw
 * (state.show), which the shell has the panel engine draw once this one is
 * gone, and a wipe to arm (state.wipeIn, ms).
 */
import { readBoard } from "./board";
import { etmAead } from "./core/aead";
import { CardLink, cardKeyFromPads, newLinkState } from "./core/link";
import { readProfile } from "./core/profile";
import type { Hash } from "./core/types";
import { clock } from "./hal/clock";
import { boardHashes } from "./hal/crypto";
import { notify } from "./hal/ble";
import { flashStore } from "./hal/storage";
import type { EngineState } from "./engine-api";

declare const INKCARD_STATE: EngineState;
declare let INKCARD_ENGINE_OUT: CardLink;

const state = INKCARD_STATE;
/** The longest a payment stays on the screen (its own expiry may end it sooner), ms. */
const PAYMENT_MS = 120000;

let sha256: Hash;
let profileFile = "";

/** K0 from the live profile's pads (core/link.ts cardKeyFromPads), or null without a valid profile. */
function cardKey(): Uint8Array | null {
  const p = readProfile(flashStore.read(profileFile), sha256);
  return p ? cardKeyFromPads(p.pads) : null;
}

function screen(kind: number, value: unknown): void {
  state.show = { kind: kind, value: value };
}

function timer(ms: number): void {
  state.wipeIn = ms;
}

function make(): CardLink {
  const board = readBoard();
  sha256 = boardHashes(board.hashes)("SHA256") as Hash;
  profileFile = board.storage.profile;
  return new CardLink({
    aead: etmAead(sha256),
    sha256: sha256,
    store: flashStore,
    file: board.storage.link,
    clock: clock,
    cardKey: cardKey,
    serial: getSerial,
    profileFile: profileFile,
    notify: notify,
    screen: screen,
    timer: timer,
    paymentMs: PAYMENT_MS,
    shownMs: board.panel.wipeAfterMs,
    state: state.link || (state.link = newLinkState()),
  });
}

INKCARD_ENGINE_OUT = make();
