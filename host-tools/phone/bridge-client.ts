/**
 * The client side of the simulator's Bluetooth bridge (sim/server/ble-bridge.ts,
 * which documents the messages): requests with an id, answered in order,
 * notifications and the end of the link as callbacks. Browser-safe (it takes
 * any WebSocket-like object: the browser's, or the `ws` package's), so a
 * phone page's navigator.bluetooth stand-in can share it with Node's connectSim.
 */

/** What both the browser's WebSocket and `ws`'s offer. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(): void;
  addEventListener(type: "message", fn: (e: { data: unknown }) => void): void;
  addEventListener(type: "close" | "open" | "error", fn: (e: unknown) => void): void;
}

export interface BridgeService {
  uuid: string;
  characteristics: { uuid: string; properties: Record<string, boolean> }[];
}

export type BridgeAnswer = Record<string, unknown> & { ev: string };

/** A refusal from the bridge or the card's GATT server; `att` is the ATT error code when there is one. */
export class BridgeError extends Error {
  constructor(
    message: string,
    readonly att?: number,
  ) {
    super(message);
    this.name = "BridgeError";
  }
}

export class BridgeClient {
  private next = 1;
  private readonly pending = new Map<number, { resolve(a: BridgeAnswer): void; reject(e: Error): void }>();
  private closed = false;
  /** Each notification: the characteristic and its bytes. */
  onNotify: (uuid: string, data: Uint8Array) => void = () => {};
  /** The link ended (the card, the radio or this side): the HCI reason, or -1 when the socket itself closed. */
  onDisconnect: (reason: number) => void = () => {};

  constructor(private readonly ws: SocketLike) {
    ws.addEventListener("message", (e) => this.receive(String(e.data)));
    ws.addEventListener("close", () => this.shut());
  }

  /** Open a bridge socket and wait until it is open. */
  static open(ws: SocketLike): Promise<BridgeClient> {
    const client = new BridgeClient(ws);
    if (ws.readyState === 1) return Promise.resolve(client);
    return new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(client));
      ws.addEventListener("error", () => reject(new BridgeError("the simulator's Bluetooth bridge refused the connection")));
      ws.addEventListener("close", () => reject(new BridgeError("the simulator's Bluetooth bridge closed the connection")));
    });
  }

  /** Send one op; resolves with its answer, rejects with the bridge's error. */
  request(op: string, args: Record<string, unknown> = {}): Promise<BridgeAnswer> {
    if (this.closed) return Promise.reject(new BridgeError("the simulator's Bluetooth bridge is closed"));
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...args, op, id }));
    });
  }

  /** Send an op that answers nothing on success (disconnect): errors are ignored. */
  post(op: string): void {
    if (!this.closed) this.ws.send(JSON.stringify({ op }));
  }

  close(): void {
    this.ws.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private receive(text: string): void {
    let m: BridgeAnswer;
    try {
      m = JSON.parse(text) as BridgeAnswer;
    } catch {
      return;
    }
    const waiting = typeof m.id === "number" ? this.pending.get(m.id) : undefined;
    if (waiting) {
      this.pending.delete(m.id as number);
      if (m.ev === "error") waiting.reject(new BridgeError(String(m.error), typeof m.att === "number" ? m.att : undefined));
      else waiting.resolve(m);
      return;
    }
    if (m.ev === "notify" && typeof m.data === "string") this.onNotify(String(m.uuid), fromHex(m.data));
    else if (m.ev === "disconnected") this.onDisconnect(Number(m.reason));
  }

  private shut(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new BridgeError("the simulator's Bluetooth bridge closed"));
    this.pending.clear();
    this.onDisconnect(-1);
  }
}

export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? "0" : "") + b[i]!.toString(16);
  return s;
}

export function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
