/**
 * What main.ts (the shell) and the engines exchange; see main.ts. Types
 * only, in a file of their own: an engine's file may export nothing.
 */
import type { BoardConfig } from "./board-config";
import type { Card, CardState } from "./core/card";
import type { LinkState } from "./core/link";
import type { ScreenRequest } from "./core/screen-kinds";
import type { DisplayState } from "./core/display";
import type { PanelState } from "./hal/ssd1681";

/** Kept by the shell between engines. */
export interface EngineState extends DisplayState, PanelState, CardState {
  /** A panel update is under way: the shell must keep the panel engine until idle() runs. */
  updating: boolean;
  /** Called when an update ends and no other follows: the shell drops the panel engine. */
  idle(): void;
  /**
   * The panel's frame while a panel engine lives: made by the shell first thing when it builds one
   * and deleted with it (panel-engine.ts createSurface says why). Its size is `frame`, width * 65536
   * + height, recorded by the first panel engine (0 until then): one number, as every variable kept
   * at idle counts.
   */
  surface?: Graphics;
  frame: number;
  /** The Bluetooth link's state (core/link.ts), made by the first link engine (link-engine.ts). */
  link?: LinkState;
  /** The screen an engine asked for, until the shell has the panel engine draw it. */
  show?: ScreenRequest;
  /** A wipe the link engine asked for, in ms (0: none): the shell arms its wipe timer. */
  wipeIn: number;
}

/** The card's engine (engine.ts): presses and issuance. It draws nothing: it asks, in state.show. */
export interface Engine {
  /** The active slot's card (docs/personalisation.md "Slots"): presses and wipes. */
  readonly card: Card;
  /** Slot 0's card: the profile issuance writes over the serial line (ink-install). */
  issued(): Card;
  /** Power-up: finishes the installs a cut interrupted, then boots the active slot. */
  boot(): void;
  /** Switch to the next slot holding a profile and name it on the screen; the ms of a wipe to arm (0). */
  longPress(): number;
  /** For the shell's button watch, which outlives the engine. */
  readonly button: BoardConfig["button"];
  /** Storage file holding the console password once the card is issued. */
  readonly lockFile: string;
  /** ink-id's answer: who the card is (no key, no code). */
  identify(): object;
  /** The live profile's digest in hex, or "" without a valid profile. */
  profileHex(): string;
}

/** The panel engine (panel-engine.ts): draws what an engine asked for. */
export interface PanelEngine {
  /** Draw s (core/screen-kinds.ts): a code on the panel is gone unless s is one. */
  draw(s: ScreenRequest): void;
}
