/**
 * A CardTransport over Web Bluetooth: the same class over Chrome's
 * `navigator.bluetooth` on the phone page and over the `webbluetooth` npm
 * package (an optional dependency, loaded lazily) in `inkcard phone`. Only
 * the standard Web Bluetooth shape is used, declared structurally below, so
 * this file needs neither the DOM's types nor a Node import.
 *
 * Web Bluetooth does not tell the page the ATT MTU, so the write size is 20
 * (DEFAULT_WRITE) unless the caller knows better (`maxWrite`, at most 50):
 * docs/dynamic-data.md, "Fragments".
 */
import { DEFAULT_WRITE, LINK_NOTIFY, LINK_SERVICE, LINK_WRITE, MAX_WRITE } from "../../firmware/core/frames.ts";
import type { CardTransport } from "./transport.ts";

interface GattCharacteristic extends EventTarget {
  value?: DataView | null;
  writeValueWithoutResponse(data: Uint8Array): Promise<void>;
  startNotifications(): Promise<unknown>;
}
interface GattService {
  getCharacteristic(uuid: string): Promise<GattCharacteristic>;
}
interface GattServer {
  connected: boolean;
  connect(): Promise<GattServer>;
  disconnect(): void;
  getPrimaryService(uuid: string): Promise<GattService>;
}
interface Device extends EventTarget {
  name?: string | null;
  gatt?: GattServer;
}
/** navigator.bluetooth, or the `webbluetooth` package's Bluetooth. */
export interface WebBluetooth {
  requestDevice(options: { filters: { services: string[] }[]; optionalServices?: string[] }): Promise<Device>;
}

export class BleTransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BleTransportError";
  }
}

export interface BleConnectOptions {
  /** The write size the link is known to take (ATT MTU - 3), default 20; at most 50. */
  maxWrite?: number;
  /** A device already chosen (a reconnect): requestDevice is not asked again. */
  device?: Device;
}

export class WebBluetoothTransport implements CardTransport {
  readonly maxWrite: number;
  private notify: (f: Uint8Array) => void = () => {};
  private gone: (() => void) | undefined;
  private down = false;
  private readonly onValue = (ev: Event) => {
    const v = (ev.target as GattCharacteristic).value;
    if (v) this.notify(new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)));
  };
  private readonly onGone = () => this.ended();

  private constructor(
    readonly device: Device,
    private readonly server: GattServer,
    private readonly writeChar: GattCharacteristic,
    private readonly notifyChar: GattCharacteristic,
    maxWrite: number,
  ) {
    this.maxWrite = maxWrite;
  }

  /** Choose the card (the browser's chooser, or the package's first match), connect, find the link service, subscribe. */
  static async connect(bluetooth: WebBluetooth, options: BleConnectOptions = {}): Promise<WebBluetoothTransport> {
    const w = options.maxWrite ?? DEFAULT_WRITE;
    if (!Number.isInteger(w) || w < DEFAULT_WRITE || w > MAX_WRITE) throw new BleTransportError(`the write size must be ${DEFAULT_WRITE}..${MAX_WRITE}`);
    let device = options.device;
    if (!device) {
      try {
        device = await bluetooth.requestDevice({ filters: [{ services: [LINK_SERVICE] }] });
      } catch (e) {
        throw new BleTransportError(`no card found: ${(e as Error).message ?? String(e)}`);
      }
    }
    if (!device.gatt) throw new BleTransportError("the device has no GATT server");
    const server = await device.gatt.connect();
    try {
      const service = await server.getPrimaryService(LINK_SERVICE);
      const writeChar = await service.getCharacteristic(LINK_WRITE);
      const notifyChar = await service.getCharacteristic(LINK_NOTIFY);
      const t = new WebBluetoothTransport(device, server, writeChar, notifyChar, w);
      notifyChar.addEventListener("characteristicvaluechanged", t.onValue);
      device.addEventListener("gattserverdisconnected", t.onGone);
      await notifyChar.startNotifications();
      return t;
    } catch (e) {
      server.disconnect();
      if (e instanceof BleTransportError) throw e;
      throw new BleTransportError(`the device does not offer the card's link service: ${(e as Error).message ?? String(e)}`);
    }
  }

  async write(fragment: Uint8Array): Promise<void> {
    if (this.down || !this.server.connected) throw new BleTransportError("the link is down");
    if (fragment.length > this.maxWrite) throw new BleTransportError(`a write of ${fragment.length} bytes is over ${this.maxWrite}`);
    await this.writeChar.writeValueWithoutResponse(fragment);
  }

  onNotify(listener: (fragment: Uint8Array) => void): void {
    this.notify = listener;
  }

  onDisconnect(listener: () => void): void {
    this.gone = listener;
  }

  async close(): Promise<void> {
    if (this.down) return;
    this.server.disconnect();
    this.ended();
  }

  private ended(): void {
    if (this.down) return;
    this.down = true;
    this.notifyChar.removeEventListener("characteristicvaluechanged", this.onValue);
    this.device.removeEventListener("gattserverdisconnected", this.onGone);
    this.gone?.();
  }
}

/**
 * The `webbluetooth` package's Bluetooth for Node, with the first card
 * found chosen. Loaded on demand (an optional dependency with a native
 * part); the specifier is a variable so that a page bundle never pulls it in.
 */
export async function nodeBluetooth(scanSeconds = 10): Promise<WebBluetooth> {
  const name = "webbluetooth";
  let mod: { Bluetooth: new (o: object) => WebBluetooth; getAdapters?: () => unknown[] };
  try {
    mod = (await import(/* @vite-ignore */ name)) as typeof mod;
  } catch (e) {
    throw new BleTransportError(`Bluetooth is not available: the optional package "webbluetooth" could not be loaded (${(e as Error).message}); use --sim URL for the simulator`);
  }
  let adapters: unknown[] = [];
  try {
    adapters = mod.getAdapters?.() ?? [{}];
  } catch (e) {
    throw new BleTransportError(`no Bluetooth adapter: ${(e as Error).message}`);
  }
  if (adapters.length === 0) throw new BleTransportError("no Bluetooth adapter found on this machine; use --sim URL for the simulator");
  return new mod.Bluetooth({ scanTime: scanSeconds, deviceFound: () => true });
}
