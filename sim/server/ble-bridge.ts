/**
 * A WebSocket at /ble that lets a phone outside the simulator be a Bluetooth
 * central of the emulated card (sim/board/ble.ts): `connectSim`
 * (host-tools/phone/sim-transport.ts) speaks it. One JSON object per text message, bytes as lower-case hex.
 *
 * client -> server (each may carry `id`, a number echoed in the answer):
 *   {op:"connect", mtu?}               -> {ev:"connected", mtu, services}
 *   {op:"pair"}                        -> {ev:"passkey"} (the card shows one: send it) or {ev:"paired", security}
 *   {op:"passkey", value:"123456"}     -> {ev:"paired", security} or {ev:"error"}
 *   {op:"subscribe", uuid?, on?}       -> {ev:"subscribed", uuid, on}      (default LINK_NOTIFY)
 *   {op:"write", data, uuid?, response?} -> {ev:"written", ok}             (default LINK_WRITE, without response)
 *   {op:"disconnect"}                  -> {ev:"disconnected", reason}
 * server -> client, unasked:
 *   {ev:"notify", uuid, data}, {ev:"disconnected", reason} (HCI code), {ev:"error", error, att?}
 *
 * On the vm engine the card's side of everything the central sends runs on
 * the board's virtual clock; after each op the bridge settles the card (as
 * the HTTP actions do), so the answer and any notification it caused are
 * sent before the next op is read, with the live clock or without. (The
 * espruino engine's card takes them on its own, in real time.)
 *
 * Who may connect: the same rule as the page and the API, which the web
 * server passes as `check` (its RequestGuard, sim/server/http.ts: loopback
 * Host, the simulator's own Origin when a browser sends one, which every
 * browser does on a WebSocket, and the page token, which a WebSocket
 * carries as `?token=`).
 * Hostile input is answered with an error and never reaches the board as
 * anything but a well-formed Central call; messages are capped (MAX_MESSAGE).
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { LINK_NOTIFY, LINK_WRITE } from "../../firmware/core/frames.ts";
import { GattError, parseUuid, type Ble, type Central } from "../board/ble.ts";

/** Path of the endpoint on the simulator's web server. */
export const BLE_PATH = "/ble";
/** The largest message taken: a write is at most 50 bytes (100 hex digits); anything near this is an attack or a bug. */
export const MAX_MESSAGE = 1024;

/** What the bridge needs of the simulator: the board's radio (undefined on engines without one) and a way to let the card run. */
export interface BleBridgeDeps {
  ble: Ble;
  /** Run the card until what was just queued for it has been handled. */
  settle(): void;
}

type Msg = Record<string, unknown>;

class BridgeError extends Error {
  constructor(
    message: string,
    readonly att?: number,
  ) {
    super(message);
  }
}

/** Why an upgrade is refused (status and reason), or undefined when it may go on. */
export type UpgradeCheck = (req: IncomingMessage) => { status: number; message: string } | undefined;

/** Attach the bridge to the server's upgrade requests; returns a close() that ends every session. */
export function attachBleBridge(server: Server, deps: BleBridgeDeps, check: UpgradeCheck): { close(): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    const refuse = (status: number, text: string) => {
      const body = JSON.stringify({ error: text });
      socket.end(`HTTP/1.1 ${status} Refused\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (path !== BLE_PATH) return refuse(404, `no such resource: ${path.slice(0, 100)}`);
    const no = check(req);
    if (no) return refuse(no.status, no.message);
    wss.handleUpgrade(req, socket, head, (ws) => session(ws, deps));
  });
  return {
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

/** One client: at most one link at a time. */
function session(ws: WebSocket, deps: BleBridgeDeps): void {
  let central: Central | undefined;
  const send = (m: Msg) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };
  const onNotify = (n: { uuid: string; data: Uint8Array }) => send({ ev: "notify", uuid: n.uuid, data: Buffer.from(n.data).toString("hex") });
  const onDisconnect = (reason: number) => {
    release();
    send({ ev: "disconnected", reason });
  };
  const release = () => {
    central?.off("notification", onNotify);
    central?.off("disconnect", onDisconnect);
    central = undefined;
  };
  const link = (): Central => {
    if (!central || !central.connected) throw new BridgeError('not connected: send {"op":"connect"} first');
    return central;
  };

  const handle = (m: Msg): Msg => {
    const ble = deps.ble;
    switch (m.op) {
      case "connect": {
        if (central?.connected) throw new BridgeError("already connected");
        const mtu = m.mtu === undefined ? undefined : num(m.mtu, "mtu", 1, 517);
        const c = ble.connect(mtu === undefined ? {} : { mtu }); // throws when the card is off, asleep or taken
        central = c;
        c.on("notification", onNotify);
        c.on("disconnect", onDisconnect);
        deps.settle();
        if (!c.connected) throw new BridgeError("the link dropped while connecting");
        return { ev: "connected", mtu: c.mtu, services: c.discover() };
      }
      case "pair": {
        const r = link().pair();
        deps.settle();
        return r === "passkey" ? { ev: "passkey" } : { ev: "paired", security: link().security };
      }
      case "passkey": {
        if (typeof m.value !== "string" || !/^[0-9]{6}$/.test(m.value)) throw new BridgeError("value must be the 6 digits the card shows");
        const ok = link().enterPasskey(m.value);
        deps.settle();
        if (!ok) throw new BridgeError("wrong passkey: pairing failed");
        return { ev: "paired", security: link().security };
      }
      case "subscribe": {
        const uuid = uuidArg(m.uuid, LINK_NOTIFY);
        const on = m.on === undefined ? true : Boolean(m.on);
        link().subscribe(uuid, on);
        return { ev: "subscribed", uuid, on };
      }
      case "write": {
        if (typeof m.data !== "string" || !/^(?:[0-9a-fA-F]{2})+$/.test(m.data)) throw new BridgeError("data must be a non-empty even-length hex string");
        const uuid = uuidArg(m.uuid, LINK_WRITE);
        const ok = link().write(uuid, Buffer.from(m.data, "hex"), { withoutResponse: !m.response });
        deps.settle();
        return { ev: "written", ok };
      }
      case "disconnect": {
        const c = link();
        c.disconnect(); // the "disconnect" listener answers {ev:"disconnected"}
        deps.settle();
        return {};
      }
      default:
        throw new BridgeError(`unknown op ${typeof m.op === "string" ? JSON.stringify(m.op.slice(0, 40)) : `(a ${typeof m.op})`}`);
    }
  };

  ws.on("message", (raw, isBinary) => {
    let m: Msg | undefined;
    let id: number | undefined;
    try {
      if (isBinary) throw new BridgeError("send JSON text, not binary");
      let v: unknown;
      try {
        v = JSON.parse(String(raw));
      } catch {
        throw new BridgeError("not JSON");
      }
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw new BridgeError("send a JSON object");
      m = v as Msg;
      if (typeof m.id === "number" && Number.isSafeInteger(m.id)) id = m.id;
      const answer = handle(m);
      if (Object.keys(answer).length) send({ ...answer, ...(id === undefined ? {} : { id }) });
    } catch (e) {
      // The model's refusals (GattError, "ble: ...") are the caller's mistakes; anything else is logged as ours.
      const att = e instanceof GattError ? e.att : e instanceof BridgeError ? e.att : undefined;
      const known = e instanceof GattError || e instanceof BridgeError || (e instanceof Error && e.message.startsWith("ble: "));
      if (!known) console.error("ble bridge:", e);
      send({ ev: "error", error: known ? (e as Error).message : "internal error in the simulator (see its log)", ...(att === undefined ? {} : { att }), ...(id === undefined ? {} : { id }) });
    }
  });
  ws.on("error", () => ws.terminate()); // oversized or malformed frames: ws closes with 1009/1002
  ws.on("close", () => {
    const c = central;
    release();
    if (c?.connected) {
      c.disconnect();
      deps.settle();
    }
  });
}

function num(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw new BridgeError(`${name} must be an integer ${min}..${max}`);
  return v;
}

function uuidArg(v: unknown, dflt: string): string {
  if (v === undefined) return dflt;
  const r = parseUuid(typeof v === "string" ? v.slice(0, 40) : v);
  if ("error" in r) throw new BridgeError(`bad uuid: ${r.error}`);
  return r.uuid;
}
