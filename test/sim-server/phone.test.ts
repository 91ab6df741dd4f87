/**
 * The simulator's Bluetooth bridge at /ble (sim/server/ble-bridge.ts), which
 * the phone's relay reaches through connectSim (host-tools/phone/sim-transport.ts):
 * who may connect, hostile clients, a dropped link and a power cut, on a
 * blank board (no service: the bridge on its own). The phone against the
 * firmware through it: phone-cli.test.ts.
 */
import { expect } from "chai";
import WebSocket from "ws";
import { bridgeUrl, connectSim } from "../../host-tools/phone/sim-transport.ts";
import type { VmSim } from "../../sim/server/start.ts";
import { expectNoUncaught, getJson, simulator } from "./support.ts";

async function pageToken(web: string): Promise<string> {
  return ((await getJson<{ token: string }>(web, "api/session")).body).token;
}

/** A POST with the page token, as the simulator's own pages send it. */
async function post(web: string, path: string, body: unknown): Promise<{ status: number }> {
  const res = await fetch(new URL(path, web), {
    method: "POST",
    headers: { "content-type": "application/json", "x-inkcard-sim": await pageToken(web) },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return { status: res.status };
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const by = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A raw bridge client: every message it received, and a way to wait for one. */
class Raw {
  readonly got: any[] = [];
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (m) => this.got.push(JSON.parse(String(m))));
    ws.on("close", (code) => (this.closeCode = code));
  }
  static async open(url: string, headers: Record<string, string> = {}): Promise<Raw> {
    const ws = new WebSocket(url, { headers });
    const raw = new Raw(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
    return raw;
  }
  /** Send, and wait for the next message that matches (default: any). */
  async ask(msg: unknown, match: (m: any) => boolean = () => true, ms = 10_000): Promise<any> {
    const from = this.got.length;
    this.ws.send(typeof msg === "string" || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
    return this.wait((m) => match(m), from, ms);
  }
  async wait(match: (m: any) => boolean, from = 0, ms = 10_000): Promise<any> {
    const by = Date.now() + ms;
    for (;;) {
      const m = this.got.slice(from).find(match);
      if (m) return m;
      if (this.closeCode !== undefined) throw new Error(`closed (${this.closeCode}) while waiting`);
      if (Date.now() > by) throw new Error(`no matching message within ${ms} ms: ${JSON.stringify(this.got.slice(from))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  close(): void {
    this.ws.close();
  }
}

/** How an upgrade is answered: the HTTP status of a refusal, or 101. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("open", () => {
      ws.close();
      resolve(101);
    });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once("error", (e) => (e.message.includes("Unexpected server response") ? undefined : reject(e)));
  });
}

describe("phone: the simulator's Bluetooth bridge (vm engine, a board without firmware)", function () {
  this.timeout(120_000);
  let sim: VmSim;
  let web: string;
  let ble: string;

  // The bridge on its own: a blank board's radio has no services, but it takes a central.
  before(async () => {
    sim = (await simulator({ blank: true })) as VmSim;
    web = sim.addresses.web;
    ble = `${bridgeUrl(web)}?token=${await pageToken(web)}`;
  });
  after(async () => {
    await sim?.close();
  });
  afterEach(() => {
    if (sim) expectNoUncaught(sim.console.read(0).text);
  });

  it("refuses upgrades without the page token, from another origin, under another Host name, or on another path", async () => {
    const port = new URL(web).port;
    expect(await upgradeStatus(bridgeUrl(web)), "no token").to.equal(403);
    expect(await upgradeStatus(`${bridgeUrl(web)}?token=${"0".repeat(64)}`), "a wrong token").to.equal(403);
    expect(await upgradeStatus(ble, { origin: "http://evil.example" }), "another origin").to.equal(403);
    expect(await upgradeStatus(ble, { origin: `http://localhost:${Number(port) + 1}` }), "another local origin").to.equal(403);
    expect(await upgradeStatus(ble, { host: `evil.example:${port}` }), "a rebound name").to.equal(421);
    expect(await upgradeStatus(ble.replace("/ble?", "/blex?")), "another path").to.equal(404);
    // The control: the same request with the simulator's own origin is taken.
    expect(await upgradeStatus(ble, { origin: `http://127.0.0.1:${port}` })).to.equal(101);
  });

  it("answers hostile messages with an error, closes on an oversized one, and keeps serving", async () => {
    const c = await Raw.open(ble);
    const refused = async (msg: unknown, pattern: RegExp) => {
      const m = await c.ask(msg);
      expect(m.ev, JSON.stringify(m)).to.equal("error");
      expect(m.error).to.match(pattern);
    };
    await refused("not json {", /not JSON/);
    await refused("[1,2]", /JSON object/);
    await refused("null", /JSON object/);
    await refused(Buffer.from([1, 2, 3]), /not JSON|binary/);
    await refused({ op: "fly" }, /unknown op/);
    await refused({ op: { toString: 1 } }, /unknown op/);
    await refused({ op: "write", data: "0100" }, /not connected/);
    await refused({ op: "subscribe" }, /not connected/);
    await refused({ op: "passkey", value: "123456" }, /not connected/);
    await refused({ op: "disconnect" }, /not connected/);
    await refused({ op: "connect", mtu: "53" }, /mtu/);
    await refused({ op: "connect", mtu: 1e9 }, /mtu/);
    // Connected: malformed writes are refused before they reach the radio; a write over MTU - 3 as the card refuses it.
    const connected = await c.ask({ op: "connect", mtu: 23, id: 7 });
    expect(connected).to.include({ ev: "connected", mtu: 23, id: 7 });
    await refused({ op: "connect" }, /already connected/);
    await refused({ op: "write", data: "zz" }, /hex/);
    await refused({ op: "write", data: "abc" }, /hex/);
    await refused({ op: "write", data: "" }, /hex/);
    await refused({ op: "write", uuid: "not-a-uuid", data: "00" }, /uuid/);
    await refused({ op: "passkey", value: "12345678901234567890" }, /6 digits/);
    // A blank board has no characteristics: the radio's refusal comes back with its ATT code.
    expect(await c.ask({ op: "write", data: "0100" })).to.include({ ev: "error", att: 0x0a });
    // A message over the cap closes the socket (1009) and costs the simulator nothing.
    c.ws.send("x".repeat(4096));
    await until("the socket to close", () => c.closeCode);
    expect(c.closeCode).to.equal(1009);
    // The link it held is released with the socket, and the simulator still serves.
    await until("the link to be released", () => !sim.board.ble.connected);
    expect((await getJson(web, "api/state")).status).to.equal(200);
    const again = await Raw.open(ble);
    expect(await again.ask({ op: "connect", mtu: 53 })).to.include({ ev: "connected", mtu: 53 });
    await again.ask({ op: "disconnect" }, (m) => m.ev === "disconnected");
    again.close();
  });

  it("tells the client when the link drops or the card loses power, once, and refuses writes after", async () => {
    for (const cut of [() => sim.board.ble.dropLink(), () => post(web, "api/power", { action: "cut" })]) {
      await until("no other link", () => !sim.board.ble.connected);
      const c = await Raw.open(ble);
      await c.ask({ op: "connect" }, (m) => m.ev === "connected");
      await cut();
      const d = await c.wait((m) => m.ev === "disconnected");
      expect(d.reason).to.equal(0x08); // supervision timeout, as a phone sees a lost link
      await new Promise((r) => setTimeout(r, 100));
      expect(c.got.filter((m) => m.ev === "disconnected")).to.have.length(1);
      expect(await c.ask({ op: "write", data: "0100" })).to.include({ ev: "error" });
      c.close();
    }
    expect((await post(web, "api/power", { action: "restore" })).status).to.equal(200);
  });

  it("gives connectSim a clear refusal when the card offers no link service, and releases the link", async () => {
    let err: unknown;
    await connectSim(web, { mtu: 53 }).catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/offers no link service/);
    await until("the link to be released", () => !sim.board.ble.connected);
  });
});
