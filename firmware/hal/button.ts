/**
 * The card's one button: a short press makes a code, a long press (held at
 * least longPressMs) is reserved and never makes one. Decided on release,
 * from the times of the two edges, so there is no timer while the button
 * is held. Espruino debounces in its pin watcher.
 */
import type { BoardConfig } from "../board-config";

type ButtonConfig = BoardConfig["button"];

/** Watch the button until the card resets; returns the watch id. */
export function watchButton(cfg: ButtonConfig, onShort: () => void, onLong: () => void): number {
  if (!(cfg.longPressMs > cfg.debounceMs)) throw new Error("button: longPressMs must exceed debounceMs");
  /** getTime() of the press edge, or -1 when none is pending (the card booted with the button held). */
  let downAt = -1;
  // One callback for the card's life: nothing is allocated per edge.
  function edge(e: SetWatchEvent): void {
    if (e.state !== cfg.activeLow) {
      downAt = e.time;
      return;
    }
    if (downAt < 0) return;
    const heldMs = (e.time - downAt) * 1000;
    downAt = -1;
    if (heldMs >= cfg.longPressMs) onLong();
    else onShort();
  }
  pinMode(cfg.pin, cfg.activeLow ? "input_pullup" : "input_pulldown");
  return setWatch(edge, cfg.pin, { repeat: true, edge: "both", debounce: cfg.debounceMs });
}
