/**
 * A `navigator.bluetooth`-shaped object backed by the simulator's Bluetooth
 * bridge (a WebSocket at /ble, sim/server/ble-bridge.ts), so that the phone
 * page runs the same Web Bluetooth transport (../ble-transport.ts) and the
 * same relay above it against the simulator as against a real card:
 * requestDevice -> device.gatt.connect -> getPrimaryService ->
 * getCharacteristic -> writeValueWithoutResponse / startNotifications /
 * "characteristicvaluechanged", and "gattserverdisconnected" on the device.
 *
 * The bridge wants the simulator's page token (sim/server/http.ts
 * RequestGuard): a same-origin page reads it from /api/session and sends it
 * as ?token= on the upgrade; the browser sends the page's Origin, which the
 * simulator checks. Everything the socket says is checked before it reaches
 * the bridge client (GuardedSocket): a message that is not text, over
 * MAX_INCOMING bytes, not a JSON object, or a notification that is not 1..50
 * bytes of hex is reported through `onError` and dropped; an oversized one
 * ends the link (the relay then sees a disconnection, never an exception).
 * Browser-safe: no Node imports.
 */
import { LINK_SERVICE, MAX_WRITE } from "../../../firmware/core/frames.ts";
import { BridgeClient, BridgeError, toHex, type BridgeService, type SocketLike } from "../bridge-client.ts";
import type { WebBluetooth } from "../ble-transport.ts";

/** The bridge's own messages are small (a services list, a notification of 50 bytes); anything over this is hostile. */
export const MAX_INCOMING = 16 * 1024;
const NOTIFY_HEX = new RegExp(`^(?:[0-9a-f]{2}){1,${MAX_WRITE}}$`);

export interface SimBluetoothOptions {
  /** The simulator's bridge address with its token (ws://127.0.0.1:N/ble?token=...), made fresh for each connection. */
  bridgeUrl: () => Promise<string>;
  /** The browser's WebSocket constructor (injected so that the file needs no DOM types). */
  WebSocket: new (url: string) => SocketLike;
  /** The ATT MTU the phone asks for (default 53: writes of 50). */
  mtu?: number;
  /** The passkey the card shows, when the bridge says the card asks for one. */
  passkey?: () => Promise<string>;
  /** Hostile or broken input from the socket: a sentence for the page (no data from the message). */
  onError?: (message: string) => void;
}

type Listener = (ev: Event) => void;

/** The little of EventTarget the transport uses, made here so that it also runs where EventTarget is missing. */
class Target {
  private readonly listeners = new Map<string, Set<Listener>>();
  addEventListener(type: string, fn: Listener): void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
  }
  removeEventListener(type: string, fn: Listener): void {
    this.listeners.get(type)?.delete(fn);
  }
  dispatchEvent(ev: { type: string }): boolean {
    for (const fn of [...(this.listeners.get(ev.type) ?? [])]) {
      try {
        fn({ type: ev.type, target: this } as unknown as Event);
      } catch {
        // a listener's failure is its own (as in a browser: reported, not thrown to the dispatcher)
      }
    }
    return true;
  }
}

/**
 * A SocketLike that checks what arrives before the bridge client sees it.
 * The client's listeners get only text messages of at most MAX_INCOMING
 * characters that parse as a JSON object, with a notification's data 1..50
 * bytes of hex.
 */
export class GuardedSocket implements SocketLike {
  constructor(
    private readonly ws: SocketLike,
    private readonly onError: (message: string) => void,
  ) {}
  get readyState(): number {
    return this.ws.readyState;
  }
  send(data: string): void {
    this.ws.send(data);
  }
  close(): void {
    this.ws.close();
  }
  addEventListener(type: "message", fn: (e: { data: unknown }) => void): void;
  addEventListener(type: "close" | "open" | "error", fn: (e: unknown) => void): void;
  addEventListener(type: string, fn: (e: never) => void): void {
    if (type !== "message") {
      (this.ws.addEventListener as (t: string, f: (e: unknown) => void) => void)(type, fn as (e: unknown) => void);
      return;
    }
    this.ws.addEventListener("message", (e) => {
      const checked = this.check(e.data);
      if (checked !== undefined) (fn as (e: { data: unknown }) => void)({ data: checked });
    });
  }

  private check(data: unknown): string | undefined {
    if (typeof data !== "string") return this.refuse("the simulator's Bluetooth bridge sent a binary message");
    if (data.length > MAX_INCOMING) {
      this.ws.close();
      return this.refuse(`the simulator's Bluetooth bridge sent a message of ${data.length} characters (at most ${MAX_INCOMING}): link closed`);
    }
    let m: unknown;
    try {
      m = JSON.parse(data);
    } catch {
      return this.refuse("the simulator's Bluetooth bridge sent a message that is not JSON");
    }
    if (m === null || typeof m !== "object" || Array.isArray(m)) return this.refuse("the simulator's Bluetooth bridge sent a message that is not a JSON object");
    const o = m as Record<string, unknown>;
    if (o.ev === "notify" && (typeof o.data !== "string" || !NOTIFY_HEX.test(o.data) || typeof o.uuid !== "string")) {
      return this.refuse(`the simulator's Bluetooth bridge sent a notification that is not 1..${MAX_WRITE} bytes of hex`);
    }
    return data;
  }

  private refuse(message: string): undefined {
    this.onError(message);
    return undefined;
  }
}

class SimCharacteristic extends Target {
  value: DataView | null = null;
  constructor(
    readonly uuid: string,
    private readonly server: SimGattServer,
  ) {
    super();
  }
  async writeValueWithoutResponse(data: Uint8Array): Promise<void> {
    const c = this.server.bridge();
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer);
    await c.request("write", { uuid: this.uuid, data: toHex(bytes) });
  }
  async startNotifications(): Promise<SimCharacteristic> {
    await this.server.bridge().request("subscribe", { uuid: this.uuid, on: true });
    return this;
  }
  async stopNotifications(): Promise<SimCharacteristic> {
    await this.server.bridge().request("subscribe", { uuid: this.uuid, on: false });
    return this;
  }
  /** A notification from the card: the value, then the event, as a browser does. */
  notified(bytes: Uint8Array): void {
    this.value = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.dispatchEvent({ type: "characteristicvaluechanged" });
  }
}

class SimService {
  constructor(
    readonly uuid: string,
    private readonly server: SimGattServer,
    private readonly def: BridgeService,
  ) {}
  async getCharacteristic(uuid: string): Promise<SimCharacteristic> {
    const want = uuid.toLowerCase();
    if (!this.def.characteristics.some((c) => c.uuid.toLowerCase() === want)) throw new BridgeError(`NotFoundError: the service has no characteristic ${want}`);
    return this.server.characteristic(want);
  }
}

class SimGattServer {
  connected = false;
  private client: BridgeClient | undefined;
  private services: BridgeService[] = [];
  private readonly chars = new Map<string, SimCharacteristic>();

  constructor(
    readonly device: SimDevice,
    private readonly o: SimBluetoothOptions,
  ) {}

  bridge(): BridgeClient {
    if (!this.client || !this.connected) throw new BridgeError("NetworkError: GATT server is disconnected");
    return this.client;
  }

  characteristic(uuid: string): SimCharacteristic {
    let c = this.chars.get(uuid);
    if (!c) this.chars.set(uuid, (c = new SimCharacteristic(uuid, this)));
    return c;
  }

  async connect(): Promise<SimGattServer> {
    if (this.connected) return this;
    const onError = this.o.onError ?? (() => {});
    const socket = new GuardedSocket(new this.o.WebSocket(await this.o.bridgeUrl()), onError);
    const client = await BridgeClient.open(socket);
    try {
      const c = await client.request("connect", { mtu: this.o.mtu ?? 53 });
      if (!Array.isArray(c.services)) throw new BridgeError("the simulator's Bluetooth bridge answered without a services list");
      this.services = (c.services as BridgeService[]).filter((s) => s && typeof s.uuid === "string" && Array.isArray(s.characteristics));
      const p = await client.request("pair");
      if (p.ev === "passkey") {
        if (!this.o.passkey) throw new BridgeError("the card asks for a passkey and none can be given");
        await client.request("passkey", { value: await this.o.passkey() });
      }
    } catch (e) {
      client.close();
      throw e;
    }
    this.client = client;
    this.connected = true;
    client.onNotify = (uuid, data) => {
      if (client !== this.client) return;
      this.chars.get(uuid.toLowerCase())?.notified(data);
    };
    client.onDisconnect = () => {
      if (client !== this.client) return;
      client.close();
      this.gone();
    };
    return this;
  }

  disconnect(): void {
    if (!this.connected) return;
    const c = this.client;
    // Say so to the card (the bridge releases the link), then close the socket; the event is ours to send.
    c?.post("disconnect");
    c?.close();
    this.gone();
  }

  async getPrimaryService(uuid: string): Promise<SimService> {
    this.bridge();
    const want = uuid.toLowerCase();
    const def = this.services.find((s) => s.uuid.toLowerCase() === want);
    if (!def) throw new BridgeError(`NotFoundError: the card offers no service ${want}`);
    return new SimService(want, this, def);
  }

  private gone(): void {
    if (!this.connected) return;
    this.connected = false;
    this.client = undefined;
    this.device.dispatchEvent({ type: "gattserverdisconnected" });
  }
}

class SimDevice extends Target {
  readonly id = "inkcard-simulator";
  readonly name = "inkcard (simulator)";
  readonly gatt: SimGattServer;
  constructor(o: SimBluetoothOptions) {
    super();
    this.gatt = new SimGattServer(this, o);
  }
}

/** The simulator's card as Web Bluetooth shows a device: one device, the card on the simulator's board. */
export function simBluetooth(o: SimBluetoothOptions): WebBluetooth {
  return {
    async requestDevice(options) {
      const wanted = options?.filters?.flatMap((f) => f.services ?? []) ?? [];
      if (!wanted.map((s) => s.toLowerCase()).includes(LINK_SERVICE)) throw new BridgeError("NotFoundError: the simulator offers only the card's link service");
      return new SimDevice(o) as never;
    },
  };
}
