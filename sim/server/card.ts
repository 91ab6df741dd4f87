/**
 * The emulated board as the server drives it (the SimCard of api.ts): what a
 * person does to a card, each action followed by waiting until the card has
 * finished what it started, so that the screen read afterwards is the one the
 * action produced. Also the optional "live" clock that keeps virtual time in
 * step with the wall clock for people using the page.
 */
import type { Board, TextRun } from "../board/board.ts";
import type { SimCard } from "./api.ts";

/** Timers due this soon after an action belong to it (the panel driver's reset steps, BUSY waits); the wipe timer does not. */
const SETTLE_HORIZON_MS = 1000;
/** Settling never moves the clock further than this (a full refresh takes 2 s). */
const SETTLE_LIMIT_MS = 10_000;

export class BoardCard implements SimCard {
  /** Text runs of the frame on the glass: taken when a refresh lands, not when the firmware draws. */
  private shownText: TextRun[] = [];
  private live: NodeJS.Timeout | undefined;

  constructor(readonly board: Board) {
    board.on("display", () => {
      this.shownText = board.textRuns();
    });
  }

  press(): void {
    this.board.press();
    this.settle();
  }

  hold(ms: number): void {
    this.board.hold(ms);
    this.settle();
  }

  advance(ms: number): void {
    this.board.advance(ms);
  }

  cutPower(): void {
    this.board.cutPower();
  }

  restorePower(): void {
    this.board.restorePower();
    this.settle(); // the firmware redraws at boot
  }

  powered(): boolean {
    return this.board.powered;
  }

  timeMs(): number {
    return this.board.now();
  }

  screen() {
    const panel = this.board.panel;
    const display = panel.display;
    const rowBytes = panel.width >> 3;
    return {
      width: panel.width,
      height: panel.height,
      text: this.shownText.map((r) => ({ ...r })),
      refreshes: { ...panel.refreshes },
      isWhite: (x: number, y: number) => ((display[y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1) === 1,
    };
  }

  /**
   * Run the card until what the last action started is over: the panel is not
   * busy and no timer is due within SETTLE_HORIZON_MS. Timers further away
   * (the code's wipe) are left for the clock to reach.
   */
  settle(): void {
    const clock = this.board.clock;
    const start = clock.now();
    for (let i = 0; i < 10_000 && clock.now() - start < SETTLE_LIMIT_MS; i++) {
      const busyUntil = this.board.panel.busyUntil();
      const next = clock.nextAt();
      const target = busyUntil ?? (next !== undefined && next <= clock.now() + SETTLE_HORIZON_MS ? next : undefined);
      if (target === undefined) return;
      this.board.advance(Math.max(0, target - clock.now()));
    }
  }

  /** Keep virtual time moving with the wall clock (on top of any jumps the API makes). */
  startLiveClock(tickMs = 20): void {
    if (this.live) return;
    let last = performance.now();
    this.live = setInterval(() => {
      const now = performance.now();
      this.board.advance(now - last);
      last = now;
    }, tickMs);
    this.live.unref();
  }

  stopLiveClock(): void {
    if (this.live) clearInterval(this.live);
    this.live = undefined;
  }
}
