/**
 * The nRF52's GPIO as the firmware sees it through Espruino: pins named
 * "D0".."D31" (or given as numbers), a mode per pin, the level the firmware
 * drives, and levels driven from outside (the button, the panel's BUSY).
 *
 * The level of a pin is what a digitalRead would return: an outside driver
 * wins, then the firmware's own output, then the pull resistor; a floating
 * input reads 0. Every change of level is reported to the listeners with the
 * virtual time it happened at; watches (watches.ts) and the SPI bus wiring
 * (spi.ts) listen.
 */

export type PinMode = "input" | "input_pullup" | "input_pulldown" | "output" | "opendrain" | "opendrain_pullup" | "af_output";

/** Modes pinMode() accepts, as Espruino names them ("auto" hands the choice back to digitalRead/digitalWrite). */
const MODES = new Set<string>(["input", "input_pullup", "input_pulldown", "output", "opendrain", "opendrain_pullup", "af_output", "auto"]);

export type LevelListener = (pin: number, level: 0 | 1) => void;

interface PinState {
  mode: PinMode;
  /** Set by pinMode(): digitalRead/digitalWrite no longer change the mode. */
  manual: boolean;
  out: 0 | 1;
  external: 0 | 1 | undefined;
  level: 0 | 1;
}

export class Pins {
  readonly count: number;
  private readonly pins: PinState[] = [];
  private readonly listeners: LevelListener[] = [];

  /** nRF52832: D0..D31. */
  constructor(count = 32) {
    this.count = count;
    for (let i = 0; i < count; i++) this.pins.push(fresh());
  }

  /**
   * The pin number for a name ("D17"), a number (17), or anything whose
   * String() is a pin name (Espruino's Pin objects print as "D17").
   * Undefined when it names no pin.
   */
  find(pin: unknown): number | undefined {
    let n: number;
    if (typeof pin === "number") n = pin;
    else {
      const m = /^D(\d{1,2})$/.exec(String(pin));
      if (!m) return undefined;
      n = Number(m[1]);
    }
    return Number.isInteger(n) && n >= 0 && n < this.count ? n : undefined;
  }

  name(pin: number): string {
    return "D" + pin;
  }

  /** Call listener on every change of level; returns the function that stops it. */
  onLevel(listener: LevelListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  level(pin: number): 0 | 1 {
    return this.pins[pin].level;
  }

  mode(pin: number): PinMode {
    return this.pins[pin].mode;
  }

  /** digitalWrite: output the level, switching the pin to output unless its mode was set by hand. */
  write(pin: number, value: 0 | 1): void {
    const p = this.pins[pin];
    p.out = value;
    if (!p.manual && p.mode !== "output") p.mode = "output";
    this.update(pin);
  }

  /** digitalRead: the level, switching the pin to input unless its mode was set by hand. */
  read(pin: number): 0 | 1 {
    const p = this.pins[pin];
    if (!p.manual && p.mode !== "input") {
      p.mode = "input";
      this.update(pin);
    }
    return p.level;
  }

  /** pinMode. Returns false for a mode Espruino does not know. */
  setMode(pin: number, mode: string): boolean {
    if (!MODES.has(mode)) return false;
    const p = this.pins[pin];
    if (mode === "auto") {
      p.manual = false;
    } else {
      p.manual = true;
      p.mode = mode as PinMode;
    }
    this.update(pin);
    return true;
  }

  /** Drive the pin from outside the chip (undefined: let go, so the pin's own state decides). */
  drive(pin: number, level: 0 | 1 | undefined): void {
    this.pins[pin].external = level;
    this.update(pin);
  }

  /** Back to power-on state: every pin a floating input (outside drivers stay). */
  reset(): void {
    for (let i = 0; i < this.count; i++) {
      const external = this.pins[i].external;
      this.pins[i] = { ...fresh(), external, level: this.pins[i].level };
      this.update(i);
    }
  }

  private update(pin: number): void {
    const p = this.pins[pin];
    const level = computeLevel(p);
    if (level === p.level) return;
    p.level = level;
    for (const l of this.listeners) l(pin, level);
  }
}

function fresh(): PinState {
  return { mode: "input", manual: false, out: 0, external: undefined, level: 0 };
}

function computeLevel(p: PinState): 0 | 1 {
  if (p.external !== undefined) return p.external;
  switch (p.mode) {
    case "output":
    case "af_output":
    case "opendrain_pullup": // released, the pull-up takes it high
      return p.out;
    case "input_pullup":
      return 1;
    default:
      return 0; // opendrain (released it floats), input_pulldown, or a floating input
  }
}
