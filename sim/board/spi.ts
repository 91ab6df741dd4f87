/**
 * Espruino's software SPI (`new SPI()`, `setup`, `write`, `send`) and the
 * wiring from the board's pins to the e-ink controller model.
 *
 * The controller sees exactly what the wires carry: bytes clocked out on the
 * panel's SCK/MOSI reach it only while its CS pin is low, with the DC pin's
 * level at that moment; CS rising, RST changes and BUSY follow the pins.
 * An SPI set up on other pins drives nothing. As on Espruino, SPI.write
 * takes its last argument as CS only when it is a Pin object (a pin *name*
 * is data), and send(data, cs) takes a pin name or number.
 */
import type { Pins } from "./pins.ts";
import type { Realm } from "./realm.ts";
import type { VirtualClock, ClockTask } from "./clock.ts";

/** What the bus needs from the controller model (sim/board/ssd1681.ts). */
export interface PanelModel {
  /** Bytes clocked in while CS was low; dc is the DC pin level. */
  write(bytes: Uint8Array, dc: 0 | 1): void;
  csHigh(): void;
  setReset(level: 0 | 1): void;
  busy(): 0 | 1;
  /** Clock time (ms) at which BUSY falls by itself; undefined when low or held high. */
  busyUntil(): number | undefined;
}

export interface PanelWiring {
  sck: number;
  mosi: number;
  cs: number;
  dc: number;
  rst: number;
  busy: number;
}

/** The panel on its pins: routes SPI traffic and drives BUSY. */
export class PanelBus {
  private busyCheck: ClockTask | undefined;

  constructor(
    readonly model: PanelModel,
    readonly wiring: PanelWiring,
    private readonly pins: Pins,
    private readonly clock: VirtualClock,
    /** Told about traffic the controller cannot make sense of. */
    private readonly note: (text: string) => void = () => {},
    /** Called whenever BUSY may have changed (a refresh lands as BUSY falls). */
    private readonly changed: () => void = () => {},
  ) {
    pins.onLevel((pin, level) => {
      if (pin === wiring.cs && level === 1) this.touch(() => model.csHigh());
      else if (pin === wiring.rst) this.touch(() => model.setReset(level));
    });
    this.syncBusy();
  }

  /** Bytes clocked out with SCK/MOSI on these pins, in SPI mode `mode`. */
  transfer(sck: number, mosi: number, mode: number, bytes: Uint8Array): void {
    const w = this.wiring;
    if (sck !== w.sck || mosi !== w.mosi || this.pins.level(w.cs) !== 0) return;
    if (mode !== 0) {
      this.note(`SPI mode ${mode}: the SSD1681 samples in mode 0, ${bytes.length} bytes lost`);
      return;
    }
    this.touch(() => this.model.write(bytes, this.pins.level(w.dc)));
  }

  private touch(action: () => void): void {
    action();
    this.syncBusy();
  }

  /** Put the model's BUSY on its pin, and come back when it is due to fall. */
  private syncBusy(): void {
    this.pins.drive(this.wiring.busy, this.model.busy());
    this.clock.cancel(this.busyCheck);
    this.busyCheck = undefined;
    const until = this.model.busyUntil();
    if (until !== undefined) this.busyCheck = this.clock.schedule(until, () => this.syncBusy());
    this.changed();
  }
}

/** Something that carries SPI bytes off the chip (the panel bus, or nothing). */
export type SpiSink = (sck: number, mosi: number, mode: number, bytes: Uint8Array) => void;

/**
 * The `SPI` class for one interpreter. `guard` runs before every operation
 * (it throws once the power is gone).
 */
export function createSpiClass(pins: Pins, realm: Realm, sink: SpiSink, guard: () => void) {
  return class SPI {
    #sck: number | undefined;
    #mosi: number | undefined;
    #lsbFirst = false;
    #mode = 0;

    /** { sck, mosi, miso?, baud?, mode?, order? } */
    setup(options: unknown): void {
      guard();
      const o = (options ?? {}) as Record<string, unknown>;
      const pin = (v: unknown) => {
        if (v === undefined) return undefined;
        const p = pins.find(v);
        if (p === undefined) throw realm.error("Invalid pin");
        return p;
      };
      this.#sck = pin(o.sck);
      this.#mosi = pin(o.mosi);
      this.#mode = o.mode === undefined ? 0 : Number(o.mode) & 3;
      this.#lsbFirst = o.order === "lsb";
      if (this.#sck !== undefined) pins.write(this.#sck, 0);
      if (this.#mosi !== undefined) pins.write(this.#mosi, 0);
    }

    /** write(data, ...) — data as for E.toUint8Array. */
    write(...args: unknown[]): void {
      guard();
      this.#out(realm.u8(args));
    }

    /** send(data, cs?): CS (a pin name or number) low around the transfer; returns what MISO read (nothing is wired: zeros). */
    send(data: unknown, cs?: unknown): unknown {
      guard();
      const csPin = cs === undefined ? undefined : pins.find(cs);
      if (cs !== undefined && csPin === undefined) throw realm.error("Invalid pin");
      if (csPin !== undefined) pins.write(csPin, 0);
      const bytes = realm.u8(data);
      this.#out(bytes);
      if (csPin !== undefined) pins.write(csPin, 1);
      if (typeof data === "number") return 0;
      if (typeof data === "string") return "\0".repeat(bytes.length);
      return realm.uint8Array(new Uint8Array(bytes.length));
    }

    #out(bytes: Uint8Array): void {
      if (this.#sck === undefined || this.#mosi === undefined || bytes.length === 0) return;
      if (this.#lsbFirst) for (let i = 0; i < bytes.length; i++) bytes[i] = reverseBits(bytes[i]);
      sink(this.#sck, this.#mosi, this.#mode, bytes);
    }
  };
}

function reverseBits(b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
}
