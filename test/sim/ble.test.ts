/**
 * The simulator's Bluetooth LE model (sim/board/ble.ts): small firmware
 * programs, flashed as boot code, declare a GATT service through NRF as the
 * card's firmware will; a host-side central (the phone) connects, writes
 * and listens. Figures checked against Espruino 2v29's source: the 1 KB IO
 * buffer (len + 5 bytes a write), MTU 23..53, maxLen, HCI reasons.
 */
import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import { ATT, type Central, GattError, HCI } from "../../sim/board/ble.ts";
import type { Board } from "../../sim/board/board.ts";
import { LINK_NOTIFY, LINK_SERVICE, LINK_WRITE } from "../../firmware/core/frames.ts";
import { flashedBoard, newBoard, out } from "./helpers.ts";

const SVC = "7e1a0001-6f2b-4c1d-9a3e-5b8c0d2e4f60";
const RX = "7e1a0002-6f2b-4c1d-9a3e-5b8c0d2e4f60"; // frames in (writes)
const TX = "7e1a0003-6f2b-4c1d-9a3e-5b8c0d2e4f60"; // answers out (notifications)
const SMALL = "7e1a0004-6f2b-4c1d-9a3e-5b8c0d2e4f60"; // a writable characteristic with maxLen 8
const GUARDED = "7e1a0005-6f2b-4c1d-9a3e-5b8c0d2e4f60"; // writable on a MITM-protected link only

/** A card program in Espruino's subset: one service declared once, every write and NRF event recorded. */
const PROGRAM = `
var SVC = "${SVC}", RX = "${RX}", TX = "${TX}";
var got = [], events = [], shown;
NRF.setServices({}, { uart: false });
function hex(ab) { var b = new Uint8Array(ab), s = ""; for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16); return s; }
function onFrame(evt) { got.push(evt.data instanceof ArrayBuffer ? hex(evt.data) : "not an ArrayBuffer"); if (got.length === 2 && throwOnSecond) throw new Error("in onWrite"); }
var throwOnSecond = false;
var table = {};
table[SVC] = {};
table[SVC][RX] = { writable: true, maxLen: 50, onWrite: onFrame };
table[SVC][TX] = { notify: true, maxLen: 50, value: [0] };
table[SVC]["${SMALL}"] = { writable: true, maxLen: 8, onWrite: function (e) { got.push("small " + hex(e.data)); } };
table[SVC]["${GUARDED}"] = { writable: true, maxLen: 20, security: { write: { mitm: true, encrypted: true } }, onWrite: function (e) { got.push("guarded " + hex(e.data)); } };
NRF.setServices(table, { uart: false });
NRF.on("connect", function (addr) { events.push("connect " + addr); });
NRF.on("disconnect", function (reason) { events.push("disconnect " + reason); });
NRF.on("passkey", function (key) { shown = key; });
NRF.on("security", function (s) { events.push("security " + s.auth_status); });
function send(bytes) { var u = {}; u[SVC] = {}; u[SVC][TX] = { value: bytes, notify: true }; NRF.updateServices(u); }
`;

function bytes(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 255);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

async function card(): Promise<Board> {
  return flashedBoard(PROGRAM);
}

/** Connect and let the card see the connection. */
function connect(board: Board, mtu?: number): Central {
  const c = board.ble.connect(mtu === undefined ? {} : { mtu });
  board.advance(0);
  return c;
}

const got = (board: Board) => board.evaluate("got.join()") as string;
const events = (board: Board) => board.evaluate("events.join()") as string;

/** The refusal a central's call threw, or undefined. */
function refusal(fn: () => unknown): GattError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof GattError) return e;
    throw e;
  }
  return undefined;
}

describe("sim ble: the GATT table", () => {
  it("declares the service once, with nothing readable and no console over Bluetooth", async () => {
    const board = await card();
    const c = connect(board);
    const services = c.discover();
    expect(services.map((s) => s.uuid)).to.deep.equal([SVC]);
    const props = Object.fromEntries(services[0].characteristics.map((ch) => [ch.uuid, ch.properties]));
    expect(props[RX]).to.deep.equal({ read: false, write: true, writeWithoutResponse: true, notify: false, indicate: false });
    expect(props[TX]).to.deep.equal({ read: false, write: false, writeWithoutResponse: false, notify: true, indicate: false });
    for (const uuid of [RX, TX, SMALL, GUARDED]) expect(refusal(() => c.read(uuid))?.att, uuid).to.equal(ATT.READ_NOT_PERMITTED);
    expect(board.nrf.servicesOptions).to.deep.equal({ uart: false });
    expect(events(board)).to.match(/^connect [0-9a-f:]+ private-resolvable$/);
  });

  it("shows Espruino's console service unless uart is false, and reads what is readable", async () => {
    const board = await flashedBoard(`NRF.setServices({ "0xBCDE": { 0xABCD: { value: "Hello", readable: true } } });`);
    const c = connect(board);
    expect(c.discover().map((s) => s.uuid)).to.deep.equal(["6e400001-b5a3-f393-e0a9-e50e24dcca9e", "0xbcde"]);
    expect(Buffer.from(c.read("abcd")).toString()).to.equal("Hello");
    expect(board.evaluate(`(function () { try { NRF.setServices({ "70000": {} }); } catch (e) { return e.message; } })()`)).to.equal("Invalid Service UUID: UUID Integer out of range");
  });

  it("changes services only when no central is connected, as Espruino restarts its stack", async () => {
    const board = await card();
    const c = connect(board);
    board.evaluate(`var t = {}; t["${SVC}"] = {}; t["${SVC}"]["${RX}"] = { writable: true, maxLen: 20 }; NRF.setServices(t, { uart: false });`);
    expect(out(board)).to.contain("BLE Connected, queueing BLE restart for later");
    expect(board.evaluate(`(function () { try { send([1]); } catch (e) { return e.message; } })()`)).to.equal("Can't update services until BLE restart");
    expect(c.discover()[0].characteristics).to.have.length(4); // the old table until the link ends
    c.disconnect();
    const again = connect(board);
    expect(again.discover()[0].characteristics.map((ch) => ch.uuid)).to.deep.equal([RX]);
  });

  it("keeps the firmware's boot call working: the bundle declares the link's service alone, nothing readable, no console over Bluetooth", async function () {
    const bundle = new URL("../../dist/firmware.js", import.meta.url);
    if (!existsSync(bundle)) throw new Error("dist/firmware.js is missing: run `npm run build` first");
    const board = await flashedBoard(readFileSync(bundle, "latin1"));
    board.advance(5000);
    expect(board.nrf.servicesOptions).to.deep.equal({ uart: false });
    expect(out(board)).to.not.contain("Uncaught");
    const c = connect(board, 53);
    const only = (o: Record<string, boolean>) => ({ read: false, write: false, writeWithoutResponse: false, notify: false, indicate: false, ...o });
    expect(c.discover()).to.deep.equal([
      {
        uuid: LINK_SERVICE,
        characteristics: [
          { uuid: LINK_WRITE, properties: only({ write: true, writeWithoutResponse: true }) },
          { uuid: LINK_NOTIFY, properties: only({ notify: true }) },
        ],
      },
    ]);
    expect(c.mtu).to.equal(53);
  });

  it("gives the chip's own address", async () => {
    const a = await newBoard({ serial: "0011aabb-ccddeeff" });
    const b = await newBoard({ serial: "0011aabb-ccddeeff" });
    const addr = a.evaluate("NRF.getAddress()") as string;
    expect(addr).to.match(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(parseInt(addr.slice(0, 2), 16) & 0xc0).to.equal(0xc0); // random static
    expect(b.evaluate("NRF.getAddress()")).to.equal(addr);
  });
});

describe("sim ble: writes", () => {
  it("delivers each write to onWrite in order, one call per write, at the card's next idle moment", async () => {
    const board = await card();
    const c = connect(board);
    const frags = Array.from({ length: 17 }, (_, i) => bytes(20, i)); // the largest frame at 20 bytes a write
    for (const f of frags) expect(c.write(RX, f)).to.equal(true);
    expect(got(board)).to.equal(""); // nothing runs until the card's event loop does
    board.advance(0);
    expect(got(board)).to.equal(frags.map(hex).join());
  });

  it("keeps delivering after an exception in onWrite", async () => {
    const board = await card();
    const c = connect(board);
    board.evaluate("throwOnSecond = true");
    for (let i = 0; i < 3; i++) c.write(RX, [i]);
    board.advance(0);
    expect(got(board)).to.equal("00,01,02");
    expect(out(board)).to.contain("Uncaught Error: in onWrite");
  });

  it("refuses writes over MTU - 3 (no long writes), over maxLen, to what is not writable, and unsecured ones", async () => {
    const board = await card();
    let c = connect(board);
    expect(c.mtu).to.equal(23);
    expect(refusal(() => c.write(RX, bytes(21)))?.att).to.equal(ATT.REQUEST_NOT_SUPPORTED);
    expect(refusal(() => c.write(RX, bytes(21), { withoutResponse: true }))?.att).to.equal(ATT.REQUEST_NOT_SUPPORTED);
    expect(refusal(() => c.write(SMALL, bytes(9)))?.att).to.equal(ATT.INVALID_ATTRIBUTE_VALUE_LENGTH);
    expect(c.write(SMALL, bytes(9), { withoutResponse: true })).to.equal(false); // a write command gets no answer
    expect(refusal(() => c.write(TX, [1]))?.att).to.equal(ATT.WRITE_NOT_PERMITTED);
    expect(refusal(() => c.write(GUARDED, [1]))?.att).to.equal(ATT.INSUFFICIENT_AUTHENTICATION);
    expect(c.exchangeMtu(53)).to.equal(53);
    expect(c.write(RX, bytes(50))).to.equal(true);
    expect(refusal(() => c.write(RX, bytes(51)))?.att).to.equal(ATT.REQUEST_NOT_SUPPORTED);
    board.advance(0);
    expect(got(board)).to.equal(hex(bytes(50))); // only the one write that was taken
    c.disconnect();
    c = connect(board, 517); // a phone asking for more gets the MDBT42Q's 53
    expect(c.mtu).to.equal(53);
  });

  it("drops writes beyond Espruino's 1 KB input queue, silently for the phone", async () => {
    const board = await card();
    const c = connect(board);
    // 20-byte writes take 25 bytes of the 1,024 (4 kept spare): 40 fit.
    for (let i = 0; i < 60; i++) expect(c.write(RX, bytes(20, i))).to.equal(true);
    expect(board.ble.droppedEvents).to.equal(20);
    board.advance(0);
    expect(got(board).split(",")).to.deep.equal(Array.from({ length: 40 }, (_, i) => hex(bytes(20, i))));
    expect(board.ble.queuedBytes).to.equal(0);
    // 50-byte writes take 55: 18 fit.
    board.evaluate("got = []");
    c.exchangeMtu(53);
    for (let i = 0; i < 30; i++) c.write(RX, bytes(50, i));
    expect(board.ble.droppedEvents).to.equal(20 + 12);
    board.advance(0);
    expect(got(board).split(",")).to.have.length(18);
    // A phone that waits for the card's answer never meets the bound: the largest frame is 17 writes of 20.
    board.evaluate("got = []");
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 17; i++) c.write(RX, bytes(20, i));
      board.advance(10);
    }
    expect(got(board).split(",")).to.have.length(85);
    expect(board.ble.droppedEvents).to.equal(32);
  });
});

describe("sim ble: notifications", () => {
  it("notifies a subscribed central only, at most MTU - 3 bytes", async () => {
    const board = await card();
    const c = connect(board);
    board.evaluate("send([1, 2, 3])");
    expect(c.notifications).to.have.length(0); // not subscribed: nothing sent, nothing said
    c.subscribe(TX);
    board.evaluate(`send(${JSON.stringify([...bytes(20)])})`);
    board.evaluate(`send(${JSON.stringify([...bytes(50, 1)])})`);
    c.exchangeMtu(53);
    board.evaluate(`send(${JSON.stringify([...bytes(50, 2)])})`);
    expect(c.notifications.map((n) => [n.uuid, hex(n.data)])).to.deep.equal([
      [TX, hex(bytes(20))],
      [TX, hex(bytes(50, 1).subarray(0, 20))], // MTU 23: the SoftDevice sends the first 20
      [TX, hex(bytes(50, 2))],
    ]);
    expect(board.evaluate(`(function () { try { send(${JSON.stringify([...bytes(51)])}); } catch (e) { return e.message; } })()`)).to.equal("ERR 0xc (DATA_SIZE)");
    expect(c.notifications).to.have.length(3);
    expect(refusal(() => c.subscribe(RX))?.att).to.equal(ATT.ATTRIBUTE_NOT_FOUND); // no CCCD on a write-only characteristic
  });

  it("loses the notifications it is told to, and the card does not know", async () => {
    const board = await card();
    const c = connect(board);
    c.subscribe(TX);
    board.ble.loseNotifications(2);
    for (let i = 1; i <= 4; i++) board.evaluate(`send([${i}])`);
    expect(c.notifications.map((n) => hex(n.data))).to.deep.equal(["03", "04"]);
    expect(out(board)).to.not.contain("Uncaught");
  });
});

describe("sim ble: the link", () => {
  it("a link dropped mid-frame: the writes received are still handled, the card sees the loss, a new link starts clean", async () => {
    const board = await card();
    const c = connect(board);
    c.subscribe(TX);
    const reasons: number[] = [];
    c.on("disconnect", (r: number) => reasons.push(r));
    for (let i = 0; i < 3; i++) c.write(RX, bytes(20, i)); // 3 of a 17-write frame
    board.ble.dropLink();
    expect(c.connected).to.equal(false);
    expect(reasons).to.deep.equal([HCI.CONNECTION_TIMEOUT]);
    expect(() => c.write(RX, bytes(20, 3))).to.throw(/not connected/);
    board.evaluate("send([9])");
    expect(c.notifications).to.have.length(0);
    board.advance(0);
    expect(got(board)).to.equal([0, 1, 2].map((i) => hex(bytes(20, i))).join());
    expect(events(board)).to.match(/^connect [^,]+,disconnect 8$/);
    // Reconnect: the subscription is gone until the phone subscribes again.
    const again = connect(board);
    board.evaluate("send([10])");
    expect(again.notifications).to.have.length(0);
    again.subscribe(TX);
    again.write(RX, bytes(20, 3));
    board.advance(0);
    board.evaluate("send([11])");
    expect(again.notifications.map((n) => hex(n.data))).to.deep.equal(["0b"]);
    expect(got(board).split(",")).to.have.length(4);
  });

  it("reports who ended the link with Espruino's reasons, and a power cut as a lost link", async () => {
    const board = await card();
    let c = connect(board);
    board.evaluate("NRF.disconnect()");
    expect(c.disconnectReason).to.equal(HCI.REMOTE_USER_TERMINATED); // the phone sees 0x13
    board.advance(0);
    c = connect(board);
    c.disconnect();
    board.advance(0);
    expect(events(board).split(",").filter((e) => e.startsWith("disconnect"))).to.deep.equal(["disconnect 22", "disconnect 19"]);
    c = connect(board);
    board.cutPower();
    expect(c.disconnectReason).to.equal(HCI.CONNECTION_TIMEOUT);
    expect(() => board.ble.connect()).to.throw(/not powered/);
    board.restorePower();
    c = connect(board);
    expect(c.discover().map((s) => s.uuid)).to.deep.equal([SVC]); // the boot code declared it again
  });

  it("pairs with a passkey the card shows, and guards a MITM-protected characteristic until then", async () => {
    const board = await card();
    board.evaluate("NRF.setSecurity({ mitm: 1, display: 1 })");
    const c = connect(board);
    expect(c.pair()).to.equal("passkey");
    board.advance(0);
    const shown = board.evaluate("shown") as string;
    expect(shown).to.match(/^[0-9]{6}$/);
    const wrong = String((Number(shown) + 1) % 1000000).padStart(6, "0");
    expect(c.enterPasskey(wrong)).to.equal(false);
    expect(refusal(() => c.write(GUARDED, [1]))?.att).to.equal(ATT.INSUFFICIENT_AUTHENTICATION);
    expect(c.pair()).to.equal("passkey");
    board.advance(0);
    expect(c.enterPasskey(board.evaluate("shown") as string)).to.equal(true);
    expect(c.security).to.deep.equal({ encrypted: true, mitm: true, bonded: true });
    c.write(GUARDED, [7]);
    board.advance(0);
    expect(got(board)).to.equal("guarded 07");
    expect(events(board)).to.match(/security PASSKEY_ENTRY_FAILED,security SUCCESS$/);
    expect(board.evaluate("JSON.stringify(NRF.getSecurityStatus())")).to.equal(
      JSON.stringify({ connected: true, encrypted: true, mitm_protected: true, bonded: true, connected_addr: "4c:1f:0a:73:9e:21 private-resolvable" }),
    );
    // The bond is kept: the same phone reconnects encrypted without a passkey.
    c.disconnect();
    const again = connect(board);
    expect(again.pair()).to.equal("done");
    expect(again.security.mitm).to.equal(true);
  });

  it("shows the static passkey NRF.setSecurity names", async () => {
    const board = await card();
    board.evaluate(`NRF.setSecurity({ passkey: "123456", mitm: 1, display: 1 })`);
    const c = connect(board);
    c.pair();
    board.advance(0);
    expect(board.evaluate("shown")).to.equal("123456");
    expect(c.enterPasskey("123456")).to.equal(true);
  });
});
