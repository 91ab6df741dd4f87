/**
 * Just enough of an Espruino board to run the real panel driver in Node
 * against the SSD1681 model: pins, setWatch on BUSY, timers on a virtual
 * clock and an SPI object. The full emulated board lives in sim/; this one
 * stays small and strict where a driver could go wrong on a card:
 * - clearWatch/clearTimeout(undefined) throw, as on Espruino (they would
 *   otherwise clear every watch or timer), and clearWatch of a watch that is
 *   gone throws "Unknown Watch";
 * - SPI.write treats every argument as data, as Espruino does for anything
 *   but a Pin object, so a pin name passed as CS would reach the panel as text;
 * - watch callbacks and timers run from the event loop (advance()), never
 *   inside the call that caused them.
 * The globals are installed on globalThis only while driver code runs
 * (call(), and the callbacks run by advance()), so mocha's own timers are untouched.
 */
import { Ssd1681, type Ssd1681ModelOptions } from "../../sim/board/ssd1681.ts";

type Pin = string | number;
interface Timer { id: number; at: number; fn: () => void }
interface Watch { id: number; pin: string; edge: number; repeat: boolean; fn: (e: { state: boolean; time: number; lastTime: number }) => void }

export interface HarnessPins { cs: Pin; dc: Pin; rst: Pin; busy: Pin }

export class Harness {
  /** Virtual time, ms. */
  now = 0;
  readonly model: Ssd1681;
  /** A panel whose BUSY line never falls (dead or unplugged with a pull-up). */
  stuckBusy = false;
  /** Byte count of every SPI.write. */
  readonly spiWrites: number[] = [];
  /** Widths of the RST low pulses, ms. */
  readonly resetPulses: number[] = [];
  /** Misuse the harness saw (SPI with CS high). */
  readonly faults: string[] = [];
  readonly spi: { write: (...a: unknown[]) => void; send: (d: unknown, cs?: Pin) => number | Uint8Array };

  private readonly pins: { cs: string; dc: string; rst: string; busy: string };
  private readonly levels = new Map<string, number>();
  private timers: Timer[] = [];
  private watches: Watch[] = [];
  private nextId = 1;
  private lastBusy: 0 | 1;
  private lastBusyTime = 0;
  private rstFellAt = 0;
  private depth = 0;
  private saved: Record<string, unknown> = {};

  constructor(pins: HarnessPins, model: Omit<Ssd1681ModelOptions, "now">) {
    this.pins = { cs: String(pins.cs), dc: String(pins.dc), rst: String(pins.rst), busy: String(pins.busy) };
    this.model = new Ssd1681({ ...model, now: () => this.now });
    for (const p of [this.pins.cs, this.pins.rst]) this.levels.set(p, 1);
    this.lastBusy = this.model.busy();
    const write = (...args: unknown[]) => {
      const bytes = Uint8Array.from(flatten(args));
      this.spiWrites.push(bytes.length);
      if (this.level(this.pins.cs)) this.faults.push(`SPI.write of ${bytes.length} bytes with CS high`);
      else this.model.write(bytes, this.level(this.pins.dc) ? 1 : 0);
    };
    this.spi = {
      write,
      // send(data, cs) takes a pin name for CS, unlike write.
      send: (d: unknown, cs?: Pin) => {
        if (cs !== undefined) this.globals.digitalWrite(cs, 0);
        write(d);
        if (cs !== undefined) this.globals.digitalWrite(cs, 1);
        return typeof d === "number" ? 0 : new Uint8Array(flatten([d]).length); // MISO unconnected
      },
    };
  }

  /** Run driver code with the Espruino globals in place. */
  call<T>(fn: () => T): T {
    if (this.depth++ === 0) {
      for (const [k, v] of Object.entries(this.globals)) {
        this.saved[k] = (globalThis as Record<string, unknown>)[k];
        (globalThis as Record<string, unknown>)[k] = v;
      }
    }
    try {
      return fn();
    } finally {
      if (--this.depth === 0) for (const k of Object.keys(this.globals)) (globalThis as Record<string, unknown>)[k] = this.saved[k];
    }
  }

  /** Move the clock by ms, running BUSY edges and timers in time order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      if (this.edge()) continue;
      const busyAt = this.stuckBusy ? undefined : this.model.busyUntil();
      const timer = this.timers.reduce<Timer | undefined>((a, t) => (!a || t.at < a.at ? t : a), undefined);
      const at = Math.min(busyAt ?? Infinity, timer?.at ?? Infinity);
      if (at > end) break;
      this.now = Math.max(this.now, at);
      if (timer && timer.at <= this.now && !this.edge()) {
        this.timers = this.timers.filter((t) => t !== timer);
        this.call(timer.fn);
      }
    }
    this.now = end;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  get activeWatches(): number {
    return this.watches.length;
  }

  private level(pin: string): number {
    return this.levels.get(pin) ?? 0;
  }

  private busyLevel(): 0 | 1 {
    return this.stuckBusy ? 1 : this.model.busy();
  }

  /** Fire the watches for a BUSY level change since the last look; true if the level changed. */
  private edge(): boolean {
    const level = this.busyLevel();
    if (level === this.lastBusy) return false;
    const lastTime = this.lastBusyTime;
    this.lastBusy = level;
    this.lastBusyTime = this.now;
    const hit = this.watches.filter((w) => w.pin === this.pins.busy && (w.edge === 0 || w.edge === (level ? 1 : -1)));
    this.watches = this.watches.filter((w) => w.repeat || !hit.includes(w));
    for (const w of hit) this.call(() => w.fn({ state: !!level, time: this.now / 1000, lastTime: lastTime / 1000 }));
    return true;
  }

  private readonly globals = {
    digitalWrite: (pin: Pin, value: number | boolean) => {
      const p = String(pin);
      const v = value ? 1 : 0;
      const was = this.level(p);
      this.levels.set(p, v);
      if (p === this.pins.cs && v && !was) this.model.csHigh();
      if (p === this.pins.rst && v !== was) {
        if (!v) this.rstFellAt = this.now;
        else this.resetPulses.push(this.now - this.rstFellAt);
        this.model.setReset(v);
      }
    },
    digitalRead: (pin: Pin) => (String(pin) === this.pins.busy ? this.busyLevel() : this.level(String(pin))),
    setWatch: (fn: Watch["fn"], pin: Pin, opts?: { edge?: string; repeat?: boolean }) => {
      if (String(pin) !== this.pins.busy) throw new Error(`harness: setWatch only on BUSY (${this.pins.busy}), not ${pin}`);
      const edge = opts?.edge === "rising" ? 1 : opts?.edge === "falling" ? -1 : 0;
      const id = this.nextId++;
      this.watches.push({ id, pin: String(pin), edge, repeat: !!opts?.repeat, fn });
      return id;
    },
    clearWatch: (...args: unknown[]) => {
      if (args.length === 0) throw new Error("harness: clearWatch() would clear every watch on the card");
      if (args[0] === undefined) throw new Error("clearWatch(undefined) not allowed. Use clearWatch() instead");
      if (!this.watches.some((w) => w.id === args[0])) throw new Error(`Unknown Watch ${String(args[0])}`);
      this.watches = this.watches.filter((w) => w.id !== args[0]);
    },
    setTimeout: (fn: () => void, ms: number) => {
      if (typeof fn !== "function") throw new Error("harness: setTimeout needs a function");
      const id = this.nextId++;
      this.timers.push({ id, at: this.now + Math.max(0, +ms || 0), fn });
      return id;
    },
    clearTimeout: (...args: unknown[]) => {
      if (args.length === 0) throw new Error("harness: clearTimeout() would clear every timer on the card");
      if (args[0] === undefined) throw new Error("clearTimeout(undefined) not allowed. Use clearTimeout() instead");
      this.timers = this.timers.filter((t) => t.id !== args[0]);
    },
  };
}

/** Bytes of SPI.write arguments, the way Espruino iterates them: numbers, strings (char codes), arrays and typed arrays. */
function flatten(args: unknown[]): number[] {
  const out: number[] = [];
  const add = (d: unknown): void => {
    if (typeof d === "number") out.push(d & 0xff);
    else if (typeof d === "string") for (let i = 0; i < d.length; i++) out.push(d.charCodeAt(i) & 0xff);
    else if (d instanceof Uint8Array || Array.isArray(d)) for (const x of d) add(x);
    else throw new Error(`harness: SPI.write cannot send ${String(d)}`);
  };
  args.forEach(add);
  return out;
}
