/**
 * Bluetooth on the espruino engine: the real interpreter (i386 build under
 * qemu, a card's speed and memory) runs a small card program whose NRF is the
 * shim's (sim/espruino/shim.ts), and a central from the board's own model
 * (sim/board/ble.ts, as on the vm engine) talks to it: the GATT table the
 * interpreter declared, writes delivered in order as ArrayBuffers, echoed
 * back as notifications, a slow card filling Espruino's 1 KB IO buffer,
 * passkey pairing, disconnection and power cuts.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { sleep } from "../../host-tools/lib/interpreter.ts";
import { ATT, type Central, GattError, HCI, IO_BUFFER_BYTES } from "../../sim/board/ble.ts";
import { EspruinoCard } from "../../sim/espruino/card.ts";
import { requireEspruino } from "../build/espruino.ts";

const SVC = "7e1a0001-6f2b-4c1d-9a3e-5b8c0d2e4f60";
const RX = "7e1a0002-6f2b-4c1d-9a3e-5b8c0d2e4f60";
const TX = "7e1a0003-6f2b-4c1d-9a3e-5b8c0d2e4f60";

/**
 * The card program, in Espruino's subset: one service, every write recorded
 * (as hex, with whether it was an ArrayBuffer) and echoed as a notification
 * after `slow` ms of work, NRF's events recorded, passkeys printed.
 */
const PROGRAM = `
var got = [], events = [], slow = 0;
function hex(ab) { var b = new Uint8Array(ab), s = ""; for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16); return s; }
function send(v) { var u = {}; u["${SVC}"] = {}; u["${SVC}"]["${TX}"] = { value: v, notify: true }; NRF.updateServices(u); }
function onFrame(e) {
  got.push((e.data instanceof ArrayBuffer ? "" : "not an ArrayBuffer ") + hex(e.data));
  var t = getTime(); while (getTime() - t < slow / 1000);
  send(e.data);
}
var table = {};
table["${SVC}"] = {};
table["${SVC}"]["${RX}"] = { writable: true, maxLen: 50, onWrite: onFrame };
table["${SVC}"]["${TX}"] = { notify: true, maxLen: 50, value: [0] };
NRF.setServices(table, { uart: false });
NRF.on("connect", function (a) { events.push("connect " + a); });
NRF.on("disconnect", function (r) { events.push("disconnect " + r); });
NRF.on("passkey", function (k) { print("PASSKEY " + k); });
NRF.on("security", function (s) { events.push("security " + s.auth_status); });
`;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Every byte value, and the ones a text line would choke on (newline, comma, 0xFF, NUL), in 50-byte writes. */
function writeOf(n: number): Uint8Array {
  const b = Uint8Array.from({ length: 50 }, (_, i) => (n * 50 + i * 37) & 255);
  b[0] = 0xff;
  b[1] = 0x0a;
  b[2] = 0x2c;
  b[3] = 0x00;
  b[4] = n;
  return b;
}

describe("sim ble on the espruino engine", function () {
  this.timeout(240_000);
  let dir: string;
  let card: EspruinoCard;
  let out = "";
  let seq = 0;

  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "inkcard-ble-espruino-"));
    card = new EspruinoCard({ config: await loadBoardConfig(), dir });
    out = "";
    card.onData((d) => (out += d));
    card.install([[".bootcde", PROGRAM]]);
    await card.restorePower();
  });

  afterEach(async () => {
    await card?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The value of a JavaScript expression on the card (JSON), through its console. */
  async function evaluate(expr: string): Promise<unknown> {
    const tag = `R${++seq}`;
    const from = out.length;
    // \x10: no echo of the line; the tags are built on the card, so only the answer holds them.
    card.write(`\x10print("\\x3c${tag}>"+JSON.stringify((${expr}))+"\\x3c/${tag}>")\n`);
    const re = new RegExp(`<${tag}>(.*)</${tag}>`);
    const by = Date.now() + 30_000;
    for (;;) {
      const m = re.exec(out.slice(from));
      if (m) return JSON.parse(m[1]);
      if (Date.now() > by) throw new Error(`the card did not answer ${expr}: ${out.slice(from).slice(-300)}`);
      await sleep(20);
    }
  }

  async function waitFor(what: string, test: () => boolean, ms = 60_000): Promise<void> {
    const by = Date.now() + ms;
    while (!test()) {
      if (Date.now() > by) throw new Error(`timed out waiting for ${what}; console: ${out.slice(-300)}`);
      await sleep(20);
    }
  }

  async function connect(mtu?: number): Promise<Central> {
    const c = card.ble.connect(mtu === undefined ? {} : { mtu });
    await card.settled();
    return c;
  }

  it("shows a central the table the interpreter declared, and the firmware sees the connection", async () => {
    const c = await connect(53);
    const services = c.discover();
    expect(services.map((s) => s.uuid)).to.deep.equal([SVC]);
    const props = Object.fromEntries(services[0].characteristics.map((ch) => [ch.uuid, ch.properties]));
    expect(props[RX]).to.deep.equal({ read: false, write: true, writeWithoutResponse: true, notify: false, indicate: false });
    expect(props[TX]).to.deep.equal({ read: false, write: false, writeWithoutResponse: false, notify: true, indicate: false });
    const refused = (() => {
      try {
        c.read(TX);
        return undefined;
      } catch (e) {
        return e as GattError;
      }
    })();
    expect(refused?.att).to.equal(ATT.READ_NOT_PERMITTED);
    expect(await evaluate("events")).to.deep.equal([`connect 4c:1f:0a:73:9e:21 private-resolvable`]);
    expect(out).to.not.contain("Uncaught");
  });

  it("delivers writes in order as ArrayBuffers, every byte value intact, and the card's notifications back", async () => {
    const c = await connect(53);
    c.subscribe(TX);
    const sent: string[] = [];
    for (let n = 0; n < 8; n++) {
      const w = writeOf(n);
      sent.push(hex(w));
      expect(c.write(RX, w, { withoutResponse: true })).to.equal(true);
    }
    await card.settled();
    expect(await evaluate("got")).to.deep.equal(sent);
    expect(c.notifications.map((n) => hex(n.data))).to.deep.equal(sent);
    expect(card.ble.droppedEvents).to.equal(0);
    // Over MTU - 3: refused by the model before the card sees anything, as on the vm engine.
    expect(() => c.write(RX, new Uint8Array(51))).to.throw(GattError);
    expect(out).to.not.contain("Uncaught");
  });

  it("a card that takes 250 ms a write: writes queue in its 1 KB IO buffer, none lost while they fit, in order, the overflow dropped and counted", async () => {
    expect(await evaluate("slow = 250")).to.equal(250);
    const c = await connect(53);
    c.subscribe(TX);
    // Paced as a phone sends: one every 20 ms, much faster than the card handles them.
    const paced: string[] = [];
    let peak = 0;
    for (let n = 0; n < 6; n++) {
      const w = writeOf(n);
      paced.push(hex(w));
      c.write(RX, w, { withoutResponse: true });
      peak = Math.max(peak, card.ble.queuedBytes);
      await sleep(20);
    }
    expect(peak, "writes waited in the IO buffer while the card was busy").to.be.at.least(2 * 55);
    await card.settled();
    expect(card.ble.droppedEvents).to.equal(0);
    expect(card.ble.queuedBytes).to.equal(0);
    expect(c.notifications.map((n) => hex(n.data))).to.deep.equal(paced);

    // A burst: each 50-byte write costs 55 bytes of the 1,024 (less 4): 18 fit, the rest are dropped.
    const burst: string[] = [];
    for (let n = 0; n < 25; n++) {
      const w = writeOf(100 + n);
      c.write(RX, w, { withoutResponse: true });
      burst.push(hex(w));
    }
    const fit = Math.floor((IO_BUFFER_BYTES - 4) / 55);
    expect(card.ble.droppedEvents).to.equal(25 - fit);
    await card.settled();
    expect(c.notifications.slice(paced.length).map((n) => hex(n.data))).to.deep.equal(burst.slice(0, fit));
    expect(await evaluate("got.length")).to.equal(paced.length + fit);
    expect(out).to.not.contain("Uncaught");
  });

  it("pairs with the passkey the card shows, refuses a wrong one, and tells the firmware", async () => {
    await evaluate(`NRF.setSecurity({ mitm: true, display: true }), 1`);
    const c = await connect();
    expect(c.pair()).to.equal("passkey");
    await waitFor("the card's passkey", () => /PASSKEY (\d{6})/.test(out));
    const shown = /PASSKEY (\d{6})/.exec(out)![1];
    const wrong = String((Number(shown) + 1) % 1_000_000).padStart(6, "0");
    expect(c.enterPasskey(wrong)).to.equal(false);
    expect(c.pair()).to.equal("passkey");
    await waitFor("a second passkey", () => (out.match(/PASSKEY (\d{6})/g) ?? []).length === 2);
    const again = [...out.matchAll(/PASSKEY (\d{6})/g)][1][1];
    expect(c.enterPasskey(again)).to.equal(true);
    expect(c.security).to.deep.include({ encrypted: true, mitm: true });
    await card.settled();
    expect(await evaluate("events.slice(1)")).to.deep.equal(["security PASSKEY_ENTRY_FAILED", "security SUCCESS"]);
  });

  it("disconnections reach both sides: the central's, the firmware's NRF.disconnect(), a lost link, a power cut", async () => {
    let c = await connect();
    c.disconnect();
    await card.settled();
    c = await connect();
    await evaluate("NRF.disconnect(), 1");
    await waitFor("the card's disconnection", () => !c.connected);
    expect(c.disconnectReason).to.equal(HCI.REMOTE_USER_TERMINATED);
    c = await connect();
    card.ble.dropLink();
    await card.settled();
    expect(await evaluate("events")).to.deep.equal([
      "connect 4c:1f:0a:73:9e:21 private-resolvable",
      `disconnect ${HCI.REMOTE_USER_TERMINATED}`,
      "connect 4c:1f:0a:73:9e:21 private-resolvable",
      `disconnect ${HCI.LOCAL_HOST_TERMINATED}`,
      "connect 4c:1f:0a:73:9e:21 private-resolvable",
      `disconnect ${HCI.CONNECTION_TIMEOUT}`,
    ]);

    c = await connect(53);
    await card.cutPower();
    expect(c.disconnectReason).to.equal(HCI.CONNECTION_TIMEOUT);
    expect(() => card.ble.connect()).to.throw(/not powered/);
    await card.restorePower();
    const d = await connect(53);
    d.subscribe(TX);
    d.write(RX, writeOf(7));
    await card.settled();
    expect(d.notifications.map((n) => hex(n.data))).to.deep.equal([hex(writeOf(7))]);
  });

  it("an updateServices over maxLen, which throws on a card, is reported on the console", async () => {
    const c = await connect(53);
    c.subscribe(TX);
    await evaluate(`send(new Uint8Array(51)), 1`);
    await card.settled();
    expect(out).to.contain("simulator: NRF.updateServices threw on the card's behalf after it returned: Error: ERR 0xc (DATA_SIZE)");
    expect(c.notifications).to.have.length(0);
  });
});
