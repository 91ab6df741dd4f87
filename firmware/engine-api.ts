/**
 * What main.ts (the shell) and engine.ts (the engine) exchange; see main.ts.
 * Types only, in a file of their own: engine.ts may export nothing.
 */
import type { BoardConfig } from "./board-config";
import type { Card, CardState } from "./core/card";
import type { DisplayState } from "./core/display";
import type { PanelState } from "./hal/ssd1681";

/** Kept by the shell between engines: the refresh count, the panel's base image, whether a code is shown. */
export interface EngineState extends DisplayState, PanelState, CardState {
  /** A panel update is under way: the shell must keep this engine until idle() runs. */
  updating: boolean;
  /** Called when an update ends and no other follows: the shell drops the engine. */
  idle(): void;
  /**
   * The panel's frame while an engine lives: made by the shell first thing when it builds one and
   * deleted with the engine (engine.ts createSurface says why). Its size is `frame`, width * 65536 +
   * height, recorded by the first engine (0 until then): one number, as every variable kept at idle
   * counts.
   */
  surface?: Graphics;
  frame: number;
}

export interface Engine {
  readonly card: Card;
  /** For the shell's button watch, which outlives the engine. */
  readonly button: BoardConfig["button"];
  /** Storage file holding the console password once the card is issued. */
  readonly lockFile: string;
  /** ink-id's answer: who the card is (no key, no code). */
  identify(): object;
  /** The live profile's digest in hex, or "" without a valid profile. */
  profileHex(): string;
}

