/**
 * setWatch / clearWatch with Espruino's semantics (src/jsinteractive.c):
 * - an edge is queued when it happens and handled after the code that is
 *   running returns, like an IO event in Espruino's idle loop;
 * - without debounce every edge updates the watch's state and lastTime, and
 *   the callback runs for the edges asked for ("rising", "falling", "both",
 *   or 1/-1/0);
 * - with debounce (ms) an edge that changes the stable state starts a
 *   timer; later edges push it back; when it fires and the pin still differs
 *   from the stable state, the callback runs with `time` = the last edge;
 * - a watch without `repeat` is removed after its callback has run once;
 * - the event is {state, time, lastTime, pin}: times in seconds of getTime().
 * Edges are only seen on pins that had a watch when the edge happened (the
 * chip's edge detector is armed by setWatch).
 */
import type { ClockTask, VirtualClock } from "./clock.ts";
import type { Pins } from "./pins.ts";
import type { Realm } from "./realm.ts";
import type { Invoke } from "./timers.ts";

interface Watch {
  id: number;
  pin: number;
  callback: unknown;
  repeat: boolean;
  /** 1 rising, -1 falling, 0 both. */
  edge: number;
  debounceMs: number;
  /** Last stable state (debounced) or last seen state. */
  state: boolean;
  lastTime: number | undefined;
  pending: { task: ClockTask; state: boolean; at: number } | undefined;
}

export class Watches {
  private readonly watches = new Map<number, Watch>();
  private nextId = 1;
  private readonly unlisten: () => void;

  constructor(
    private readonly clock: VirtualClock,
    private readonly pins: Pins,
    private readonly realm: Realm,
    private readonly invoke: Invoke,
    /** getTime() at a clock time (ms). */
    private readonly seconds: (ms: number) => number,
  ) {
    this.unlisten = pins.onLevel((pin, level) => this.edge(pin, level));
  }

  set(callback: unknown, pinArg: unknown, options: unknown): number | undefined {
    const pin = this.pins.find(pinArg);
    if (pin === undefined) throw this.realm.error("Invalid pin");
    let repeat = false;
    let edge = 0;
    let debounceMs = 0;
    if (options !== null && typeof options === "object") {
      const o = options as Record<string, unknown>;
      if (o.repeat !== undefined) repeat = Boolean(o.repeat);
      if (o.debounce !== undefined) {
        debounceMs = Number(o.debounce);
        if (!(debounceMs > 0)) debounceMs = 0;
      }
      if (o.edge !== undefined) {
        const e = o.edge;
        if (typeof e === "number") edge = Math.sign(e);
        else if (e === "rising") edge = 1;
        else if (e === "falling") edge = -1;
        else if (e === "both") edge = 0;
        else throw this.realm.typeError("'edge' in setWatch should be 1, -1, 0, 'rising', 'falling' or 'both'");
      }
    } else {
      repeat = Boolean(options);
    }
    if (typeof callback !== "function" && typeof callback !== "string") {
      throw this.realm.error("Function or String not supplied!");
    }
    const id = this.nextId++;
    const state = this.pins.read(pin) === 1;
    this.watches.set(id, { id, pin, callback, repeat, edge, debounceMs, state, lastTime: undefined, pending: undefined });
    return id;
  }

  /** clearWatch; `args` is the call's arguments (none: clear all). */
  clear(args: unknown[]): void {
    if (args.length === 0) {
      for (const w of this.watches.values()) this.clock.cancel(w.pending?.task);
      this.watches.clear();
      return;
    }
    if (args[0] === undefined) throw this.realm.error("clearWatch(undefined) not allowed. Use clearWatch() instead");
    const w = this.watches.get(Number(args[0]));
    if (!w) return;
    this.clock.cancel(w.pending?.task);
    this.watches.delete(w.id);
  }

  /** The interpreter is gone (reset, power cut): forget everything, queue nothing more. */
  kill(): void {
    this.clear([]);
    this.unlisten();
  }

  get size(): number {
    return this.watches.size;
  }

  private edge(pin: number, level: 0 | 1): void {
    let watched = false;
    for (const w of this.watches.values()) if (w.pin === pin) watched = true;
    if (!watched) return;
    const at = this.clock.now();
    this.clock.schedule(at, () => this.handle(pin, level === 1, at));
  }

  /** An edge reaches the idle loop: update each watch on the pin. */
  private handle(pin: number, high: boolean, at: number): void {
    for (const w of [...this.watches.values()]) {
      if (w.pin !== pin || this.watches.get(w.id) !== w) continue;
      if (w.debounceMs <= 0) {
        w.state = high;
        this.fire(w, high, at);
      } else if (w.pending) {
        // Bouncing: the stable state is decided debounce ms after the last edge.
        this.clock.cancel(w.pending.task);
        w.pending = this.debounce(w, high, at);
      } else if (high !== w.state) {
        w.pending = this.debounce(w, high, at);
      }
    }
  }

  private debounce(w: Watch, state: boolean, at: number): Watch["pending"] {
    const task = this.clock.schedule(at + w.debounceMs, () => {
      w.pending = undefined;
      if (state === w.state || this.watches.get(w.id) !== w) return;
      w.state = state;
      this.fire(w, state, at);
    });
    return { task, state, at };
  }

  private fire(w: Watch, state: boolean, at: number): void {
    const time = this.seconds(at);
    const lastTime = w.lastTime;
    w.lastTime = time;
    if (w.edge === 1 && !state) return;
    if (w.edge === -1 && state) return;
    if (!w.repeat) this.watches.delete(w.id);
    const event = this.realm.object({ state, lastTime, time, pin: this.pins.name(w.pin) });
    this.invoke(w.callback, [event]);
  }
}
