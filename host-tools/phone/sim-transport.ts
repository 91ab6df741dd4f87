/**
 * A CardTransport to the simulator's card over its Bluetooth bridge
 * (sim/server/ble-bridge.ts): what `inkcard phone --sim` and the tests relay
 * through. Node only (the `ws` package).
 */
import WebSocket from "ws";
import { LINK_NOTIFY, LINK_WRITE, MAX_WRITE } from "../../firmware/core/frames.ts";
import { BridgeClient, BridgeError, toHex, type SocketLike } from "./bridge-client.ts";
import type { CardTransport } from "./transport.ts";

export interface SimConnectOptions {
  /** The ATT MTU the phone asks for (default 53, what a phone's stack gets from the card; 23 models a phone that never exchanges). */
  mtu?: number;
  /** The passkey the card shows, when it asks for one while pairing; without it such a card is refused. */
  passkey?: () => Promise<string>;
}

/** The bridge's address for a simulator's web address (http://127.0.0.1:N/ -> ws://127.0.0.1:N/ble); ws: URLs are taken as they are. */
export function bridgeUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === "ws:" || u.protocol === "wss:") return u.href;
  const b = new URL("/ble", u);
  b.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return b.href;
}

/**
 * The bridge's address with the simulator's page token (sim/server/http.ts
 * RequestGuard: an upgrade carries it as ?token=), fetched as the simulator's
 * own page does. A ws: URL is taken as it is (it carries its token).
 */
async function withToken(url: string): Promise<string> {
  const u = new URL(url);
  if (u.protocol === "ws:" || u.protocol === "wss:") return u.href;
  const res = await fetch(new URL("/api/session", u));
  if (!res.ok) throw new BridgeError(`the simulator at ${u.origin} gave no session (${res.status})`);
  const { token } = (await res.json()) as { token?: unknown };
  const b = new URL(bridgeUrl(url));
  if (typeof token === "string") b.searchParams.set("token", token);
  return b.href;
}

/**
 * Connect to the simulator's card as a central: exchange the MTU, pair (a
 * bonded phone needs no passkey), subscribe to LINK_NOTIFY. `url` is the
 * simulator's web address or the bridge's ws: address.
 */
export async function connectSim(url: string, opts: SimConnectOptions = {}): Promise<CardTransport> {
  const client = await BridgeClient.open(new WebSocket(await withToken(url), { maxPayload: 64 * 1024 }) as unknown as SocketLike);
  try {
    const c = await client.request("connect", { mtu: opts.mtu ?? 53 });
    const services = c.services as { uuid: string; characteristics: { uuid: string }[] }[];
    const has = (u: string) => services.some((s) => s.characteristics.some((ch) => ch.uuid === u));
    if (!has(LINK_WRITE) || !has(LINK_NOTIFY)) throw new BridgeError("the card offers no link service (is the firmware built with Bluetooth?)");
    const p = await client.request("pair");
    if (p.ev === "passkey") {
      if (!opts.passkey) throw new BridgeError("the card asks for a passkey and none was given");
      await client.request("passkey", { value: await opts.passkey() });
    }
    await client.request("subscribe", { uuid: LINK_NOTIFY });
    return transportOver(client, Math.min(Number(c.mtu) - 3, MAX_WRITE));
  } catch (e) {
    client.close();
    throw e;
  }
}

/** The CardTransport over a connected, subscribed bridge client. */
export function transportOver(client: BridgeClient, maxWrite: number): CardTransport {
  let notify: (f: Uint8Array) => void = () => {};
  let gone: (() => void) | undefined;
  let down = false;
  let closed: () => void = () => {};
  const closing = new Promise<void>((r) => (closed = r));
  client.onNotify = (uuid, data) => {
    if (uuid === LINK_NOTIFY) notify(data);
  };
  client.onDisconnect = () => {
    if (down) return;
    down = true;
    client.close();
    closed();
    gone?.();
  };
  return {
    maxWrite,
    async write(fragment) {
      if (down) throw new BridgeError("the link is down");
      if (fragment.length > maxWrite) throw new BridgeError(`a write of ${fragment.length} bytes is over ${maxWrite}`);
      await client.request("write", { uuid: LINK_WRITE, data: toHex(fragment) });
    },
    onNotify(listener) {
      notify = listener;
    },
    onDisconnect(listener) {
      gone = listener;
    },
    async close() {
      if (!down) client.post("disconnect");
      // The bridge answers with the link's end; the socket's close is the backstop.
      setTimeout(() => client.close(), 1000).unref?.();
      await closing;
    },
  };
}
