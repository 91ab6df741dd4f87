/**
 * The card's Bluetooth LE: what Espruino's NRF object offers the firmware
 * (a GATT server, one link as a peripheral) and what a central (the phone)
 * sees of it. Behaviour follows Espruino 2v29 on an nRF52832 MDBT42Q
 * (libs/bluetooth/jswrap_bluetooth.c, bluetooth_utils.c and
 * targets/nrf5x/bluetooth.c at the commit ../shared/espruino builds):
 *
 * - NRF.setServices(table, options): 16-bit UUIDs (0..0xFFFF, "ABCD",
 *   "0xABCD") or 128-bit ones; each characteristic's `readable`, `writable`
 *   (write and write-without-response), `notify`, `indicate`, `value`,
 *   `maxLen` (default 1, or the initial value's length if longer),
 *   `security`, `onWrite`. The table replaces the previous one only through
 *   a restart of the Bluetooth stack, which Espruino defers while a central
 *   is connected ("BLE Connected, queueing BLE restart for later"; until the
 *   disconnection updateServices throws). `uart` (default true) is the
 *   Nordic UART service, Espruino's console over Bluetooth.
 * - A central's write reaches the firmware as an IO event: it takes
 *   len + 5 bytes of Espruino's 1 KB IO buffer until the idle loop runs its
 *   onWrite({data: ArrayBuffer}), one call per write, in order. A write that
 *   does not fit is dropped (E's RX_FIFO_FULL flag); the central is not told,
 *   its stack acknowledged the write already. Connect, disconnect, passkey
 *   and security events travel the same queue.
 * - Writes longer than MTU - 3 are refused: Espruino answers a prepared
 *   (long) write with "request not supported". Writes longer than maxLen
 *   are refused by the SoftDevice (invalid attribute value length).
 * - NRF.updateServices({svc: {char: {value, notify: true}}}) stores the value
 *   and, with a central connected and subscribed, notifies it: at most
 *   MTU - 3 bytes go out (the SoftDevice truncates). Not subscribed or not
 *   connected: nothing is sent and nothing is said. A value over maxLen
 *   throws "ERR 0xc (DATA_SIZE)"; an empty value does nothing.
 * - The MTU is what the central asks, within 23..53 (the MDBT42Q build's
 *   NRF_BLE_MAX_MTU_SIZE). The card's JavaScript cannot read it.
 * - NRF.on("connect", addr), ("disconnect", reason: HCI code), ("passkey",
 *   "123456"), ("security", {auth_status, bonded, ...}).
 *   NRF.setSecurity({mitm, display, passkey}): pairing with MITM protection
 *   shows a passkey (the static one, or a random one) through "passkey", and
 *   the central must enter it.
 *
 * Everything the card receives is delivered by the board's virtual clock, so
 * runs are repeatable: a central's call queues, board.advance() delivers.
 * What the central receives (notifications, disconnection) is delivered at
 * once, to `central.notifications` and its events.
 *
 * Not modelled: connection intervals and radio timing (everything arrives
 * at the next idle moment), the SoftDevice's own TX queue (use
 * loseNotifications for lost notifications), advertising contents, the
 * console over Bluetooth (its service shows in discovery; writing to it
 * throws), CCCDs remembered for bonded centrals.
 */
import { createHash, randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import type { VirtualClock } from "./clock.ts";
import type { Realm } from "./realm.ts";
import type { Invoke } from "./timers.ts";

/** ATT_MTU before any exchange, and the MDBT42Q build's largest (boards/MDBT42Q.py: NRF_BLE_MAX_MTU_SIZE=53). */
export const DEFAULT_MTU = 23;
export const MAX_MTU = 53;
/** Espruino's IO event buffer on nRF52 (scripts/build_platform_config.py: bufferSizeIO = 1024). */
export const IO_BUFFER_BYTES = 1024;

/** Disconnection reasons (Bluetooth HCI codes, Nordic's ble_hci.h). */
export const HCI = {
  CONNECTION_TIMEOUT: 0x08, // the link was lost (supervision timeout)
  REMOTE_USER_TERMINATED: 0x13, // the other side disconnected
  LOCAL_HOST_TERMINATED: 0x16, // this side disconnected
} as const;

/** ATT error codes a central gets back. */
export const ATT = {
  READ_NOT_PERMITTED: 0x02,
  WRITE_NOT_PERMITTED: 0x03,
  INSUFFICIENT_AUTHENTICATION: 0x05,
  REQUEST_NOT_SUPPORTED: 0x06,
  ATTRIBUTE_NOT_FOUND: 0x0a,
  INVALID_ATTRIBUTE_VALUE_LENGTH: 0x0d,
} as const;

/** About the size of the SoftDevice's ble_gap_evt_auth_status_t, which the "security" event carries through the IO buffer. */
const AUTH_STATUS_BYTES = 8;

/** Espruino's Nordic UART service (the console over Bluetooth) and its characteristics. */
const NUS = "6e400001-b5a3-f393-e0a9-e50e24dcca9e";
const NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e";
const NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e";

/** A refusal the central's GATT client gets: `att` is the ATT error code. */
export class GattError extends Error {
  constructor(
    readonly att: number,
    message: string,
  ) {
    super(message);
    this.name = "GattError";
  }
}

interface Access {
  encrypted: boolean;
  mitm: boolean;
}

interface Characteristic {
  service: string;
  uuid: string;
  readable: boolean;
  writable: boolean;
  notify: boolean;
  indicate: boolean;
  maxLen: number;
  value: Uint8Array;
  /** The firmware's onWrite (a function of the interpreter that declared it). */
  onWrite: unknown;
  read: Access;
  write: Access;
}

interface Table {
  /** Service UUIDs in declaration order (the Nordic UART service first when enabled). */
  services: string[];
  chars: Characteristic[];
  uart: boolean;
}

/** What the running interpreter lends the model: its realm, a way into its code, and NRF's listeners. */
export interface BleFirmware {
  realm: Realm;
  invoke: Invoke;
  emit(event: string, args: unknown[]): void;
  /**
   * Set by an interpreter that runs outside the board's clock (the espruino
   * engine, sim/espruino/bluetooth.ts): it is handed each event for the card
   * at once, in order, instead of at the clock's next idle moment, and calls
   * `done` when the card has taken the event off its IO buffer; until then
   * the event's bytes count against the buffer.
   */
  queue?(run: () => void, done: () => void): void;
}

export interface ConnectOptions {
  /** The ATT_MTU the central asks for (default 23: no exchange); the card takes 23..53. */
  mtu?: number;
  /** The central's address as the card reports it (default: a phone's resolvable private address). */
  address?: string;
}

export interface Notification {
  /** Characteristic UUID (canonical: "0xabcd" or lower-case 128-bit). */
  uuid: string;
  data: Uint8Array;
  /** Virtual time it was sent, ms. */
  at: number;
}

export interface DiscoveredService {
  uuid: string;
  characteristics: { uuid: string; properties: { read: boolean; write: boolean; writeWithoutResponse: boolean; notify: boolean; indicate: boolean } }[];
}

/** Canonical form of a UUID as Espruino accepts it (bleVarToUUID), or an error string as Espruino words it. */
export function parseUuid(v: unknown): { uuid: string } | { error: string } {
  // Object keys arrive as strings; Espruino keeps integer-looking keys as integers.
  if (typeof v === "string" && /^(0|[1-9][0-9]*)$/.test(v)) v = Number(v);
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) return { error: "UUID Integer out of range" };
    return { uuid: "0x" + v.toString(16).padStart(4, "0") };
  }
  if (typeof v !== "string") return { error: "UUID not String or Integer" };
  const short = /^0x/i.test(v) ? v.slice(2) : v.length === 4 ? v : undefined;
  const hex = short ?? v.replace(/-/g, "");
  if (!/^[0-9a-f]*$/i.test(hex)) return { error: "UUID string should only contain hex characters and dashes" };
  if (short !== undefined) {
    if (hex.length !== 4) return { error: "UUID not the right length (16 or 2 bytes)" };
    return { uuid: "0x" + hex.toLowerCase() };
  }
  if (hex.length !== 32) return { error: "UUID not the right length (16 or 2 bytes)" };
  const h = hex.toLowerCase();
  return { uuid: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` };
}

function uuidOf(v: unknown): string {
  const r = parseUuid(v);
  if ("error" in r) throw new Error(`bad UUID ${String(v)}: ${r.error}`);
  return r.uuid;
}

interface Link {
  central: Central;
  address: string;
  mtu: number;
  subscribed: Set<string>;
  encrypted: boolean;
  mitm: boolean;
  bonded: boolean;
  /** The passkey the card displayed and awaits, during pairing. */
  passkey: string | undefined;
}

/**
 * The Bluetooth side of one board; lives as long as the board (the radio
 * and the phone outlast an interpreter). Events: "overflow" (a write or
 * event did not fit in the IO buffer), "restart" (the stack restarted with
 * new services).
 */
export class Ble extends EventEmitter {
  /** The card's address, as NRF.getAddress() returns it (from the chip's serial, as FICR DEVICEADDR is per chip). */
  readonly address: string;
  /** Writes and events dropped because Espruino's IO buffer was full (E.getErrorFlags() would show RX_FIFO_FULL). */
  droppedEvents = 0;
  private table: Table = { services: [], chars: [], uart: true };
  /** setServices has declared services since power-up (Espruino's BLE_SERVICES_WERE_SET). */
  private servicesSet = false;
  /** A setServices waiting for the disconnection (BLE_NEEDS_SOFTDEVICE_RESTART). */
  private pending: { data: unknown; uart: boolean; fw: BleFirmware } | undefined;
  private security: { mitm: boolean; display: boolean; passkey: string | undefined; bond: boolean } = { mitm: false, display: false, passkey: undefined, bond: true };
  private connectable = true;
  private sleeping = false;
  private link: Link | undefined;
  private fw: BleFirmware | undefined;
  private queued = 0;
  /** Counts power cycles: events queued before a cut are lost with the RAM that held them. */
  private life = 0;
  private toLose = 0;
  /** Centrals the card bonded with: address -> MITM-protected. */
  private readonly bonds = new Map<string, boolean>();

  constructor(
    private readonly clock: VirtualClock,
    serial: string,
    private readonly print: (text: string) => void,
  ) {
    super();
    const a = createHash("sha256").update(serial).digest();
    a[0] |= 0xc0; // a random static address: top two bits set
    this.address = [...a.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
  }

  // ------------------------------------------------------------ the firmware's side (NRF)

  /** A new interpreter started: NRF events and onWrite calls go to it. Handlers of the previous one are gone (reset() clears them on Espruino). */
  attach(fw: BleFirmware): void {
    this.fw = fw;
    for (const c of this.table.chars) c.onWrite = undefined;
  }

  /** NRF.setServices(data, options). */
  setServices(fw: BleFirmware, data: unknown, options: unknown): void {
    const { realm } = fw;
    if (!(isObject(data) || data === undefined)) throw realm.typeError(`Expecting object or undefined, got ${typeName(data)}`);
    let uart = true;
    if (isObject(options) && options.uart !== undefined) uart = Boolean(options.uart);
    this.build(fw, data, uart); // checks the table now, so a bad UUID throws in the call, as it does when the stack restarts at once
    const restart = this.servicesSet || uart !== this.table.uart;
    if (restart && this.link) {
      this.print("BLE Connected, queueing BLE restart for later\n");
      this.pending = { data, uart, fw };
      return;
    }
    this.apply(fw, data, uart);
  }

  /** NRF.updateServices(data). */
  updateServices(fw: BleFirmware, data: unknown): void {
    const { realm } = fw;
    if (this.pending) throw realm.error("Can't update services until BLE restart");
    if (data === undefined) return;
    if (!isObject(data)) throw realm.typeError(`Expecting object or undefined, got ${typeName(data)}`);
    for (const sKey of Object.keys(data)) {
      const s = parseUuid(sKey);
      if ("error" in s) throw realm.error(`Invalid Service UUID: ${s.error}`);
      const chars = data[sKey];
      if (!isObject(chars)) continue;
      for (const cKey of Object.keys(chars)) {
        const c = parseUuid(cKey);
        if ("error" in c) throw realm.error(`Invalid Characteristic UUID: ${c.error}`);
        // Espruino finds the handle by the characteristic's UUID alone.
        const ch = this.table.chars.find((x) => x.uuid === c.uuid && x.service !== NUS);
        if (!ch) throw realm.error(`Unable to find service with UUID ${c.uuid}`);
        const spec = chars[cKey];
        if (!isObject(spec) || spec.value === undefined) continue;
        const bytes = realm.u8(spec.value);
        if (bytes.length === 0) continue;
        if (bytes.length > ch.maxLen) throw realm.error("ERR 0xc (DATA_SIZE)");
        ch.value = bytes;
        if (spec.notify || spec.indicate) this.notify(ch, bytes);
      }
    }
  }

  /** NRF.setSecurity(options). */
  setSecurity(fw: BleFirmware, options: unknown): void {
    if (!isObject(options) && options !== undefined) throw fw.realm.typeError(`Expecting an object or undefined, got ${typeName(options)}`);
    const o = options ?? {};
    const passkey = typeof o.passkey === "string" && o.passkey.length ? o.passkey.slice(0, 6) : undefined;
    this.security = { mitm: Boolean(o.mitm) || passkey !== undefined, display: Boolean(o.display), passkey, bond: o.bond === undefined || Boolean(o.bond) };
  }

  /** NRF.getSecurityStatus(). */
  securityStatus(fw: BleFirmware): object {
    const l = this.link;
    if (!l) return fw.realm.object({ connected: false });
    return fw.realm.object({ connected: true, encrypted: l.encrypted, mitm_protected: l.mitm, bonded: l.bonded, connected_addr: l.address });
  }

  /** NRF.setAdvertising(data, options): only `connectable` changes what a central can do. */
  setAdvertising(options: unknown): void {
    if (isObject(options) && options.connectable !== undefined) this.connectable = Boolean(options.connectable);
  }

  /** NRF.sleep() / NRF.wake(): asleep, the card does not advertise; sleep() also disconnects. */
  setSleeping(sleeping: boolean): void {
    this.sleeping = sleeping;
    if (sleeping) this.disconnectFromCard();
  }

  /** NRF.disconnect(): the card ends the link (it sees 0x16, the central 0x13). */
  disconnectFromCard(): void {
    if (this.link) this.endLink(HCI.LOCAL_HOST_TERMINATED, HCI.REMOTE_USER_TERMINATED);
  }

  /** The power is gone: the link drops (the central sees a supervision timeout), and the stack forgets everything but its bonds. */
  powerOff(): void {
    this.fw = undefined;
    this.life++;
    this.queued = 0;
    if (this.link) this.endLink(HCI.CONNECTION_TIMEOUT, HCI.CONNECTION_TIMEOUT);
    this.table = { services: [], chars: [], uart: true };
    this.servicesSet = false;
    this.pending = undefined;
    this.security = { mitm: false, display: false, passkey: undefined, bond: true };
    this.connectable = true;
    this.sleeping = false;
  }

  // ------------------------------------------------------------ the world's side

  /** A central connects (one at a time, as Espruino's peripheral role allows). */
  connect(options: ConnectOptions = {}): Central {
    if (!this.fw) throw new Error("ble: the card is not powered");
    if (this.link) throw new Error("ble: a central is already connected (the card takes one link)");
    if (this.sleeping || !this.connectable) throw new Error("ble: the card is not advertising as connectable");
    const central = new Central(this);
    const address = options.address ?? "4c:1f:0a:73:9e:21 private-resolvable";
    this.link = { central, address, mtu: DEFAULT_MTU, subscribed: new Set(), encrypted: false, mitm: false, bonded: false, passkey: undefined };
    this.toCard(7, "connect", [address]); // a ble_gap_addr_t
    if (options.mtu !== undefined) this.exchangeMtu(central, options.mtu);
    return central;
  }

  /** Lose the next n notifications on the air (the card's updateServices does not know). */
  loseNotifications(n: number): void {
    this.toLose = Math.max(0, Math.floor(n));
  }

  /** The link breaks (out of range, interference): both sides see `reason` (default: supervision timeout). */
  dropLink(reason: number = HCI.CONNECTION_TIMEOUT): void {
    if (this.link) this.endLink(reason, reason);
  }

  /** Bytes of Espruino's IO buffer taken by what the card has not handled yet. */
  get queuedBytes(): number {
    return this.queued;
  }

  get connected(): boolean {
    return this.link !== undefined;
  }

  // ------------------------------------------------------------ for Central

  /** @internal */
  linkOf(central: Central): Link {
    const l = this.link;
    if (!l || l.central !== central) throw new Error("ble: not connected");
    return l;
  }

  /** @internal */
  exchangeMtu(central: Central, mtu: number): number {
    const l = this.linkOf(central);
    if (!Number.isFinite(mtu)) throw new Error(`ble: bad MTU ${mtu}`);
    l.mtu = Math.min(Math.max(DEFAULT_MTU, Math.floor(mtu)), MAX_MTU);
    return l.mtu;
  }

  /** @internal */
  discover(central: Central): DiscoveredService[] {
    this.linkOf(central);
    return this.table.services.map((s) => ({
      uuid: s,
      characteristics: this.table.chars
        .filter((c) => c.service === s)
        .map((c) => ({ uuid: c.uuid, properties: { read: c.readable, write: c.writable, writeWithoutResponse: c.writable, notify: c.notify, indicate: c.indicate } })),
    }));
  }

  /** @internal */
  subscribe(central: Central, uuid: unknown, on: boolean): void {
    const l = this.linkOf(central);
    const c = this.find(uuid);
    if (!c.notify && !c.indicate) throw new GattError(ATT.ATTRIBUTE_NOT_FOUND, `characteristic ${c.uuid} has no CCCD (neither notify nor indicate)`);
    if (on) l.subscribed.add(c.uuid);
    else l.subscribed.delete(c.uuid);
  }

  /** @internal */
  read(central: Central, uuid: unknown): Uint8Array {
    const l = this.linkOf(central);
    const c = this.find(uuid);
    if (!c.readable) throw new GattError(ATT.READ_NOT_PERMITTED, `characteristic ${c.uuid} is not readable`);
    this.checkAccess(l, c.read, c.uuid);
    return c.value.slice();
  }

  /** @internal */
  write(central: Central, uuid: unknown, data: Uint8Array, withoutResponse: boolean): boolean {
    const l = this.linkOf(central);
    const c = this.find(uuid);
    if (data.length > l.mtu - 3) {
      // Without response there is no long write at all; with one, Espruino refuses the prepared write.
      throw new GattError(ATT.REQUEST_NOT_SUPPORTED, `a write of ${data.length} bytes is over MTU - 3 = ${l.mtu - 3}: long writes are refused`);
    }
    if (c.service === NUS) throw new Error("ble: the simulator does not model the console over Bluetooth");
    try {
      if (!c.writable) throw new GattError(ATT.WRITE_NOT_PERMITTED, `characteristic ${c.uuid} is not writable`);
      this.checkAccess(l, c.write, c.uuid);
      if (data.length > c.maxLen) throw new GattError(ATT.INVALID_ATTRIBUTE_VALUE_LENGTH, `a write of ${data.length} bytes is over the characteristic's maxLen ${c.maxLen}`);
    } catch (e) {
      if (withoutResponse && e instanceof GattError) return false; // a write command gets no answer
      throw e;
    }
    c.value = data.slice();
    const bytes = data.slice();
    // The SoftDevice has acknowledged the write by now, whether Espruino's queue takes it or not.
    this.enqueue(data.length, (fw) => {
      if (c.onWrite === undefined) return;
      fw.invoke(c.onWrite, [fw.realm.object({ data: fw.realm.arrayBuffer(bytes) })]);
    });
    return true;
  }

  /** @internal Start pairing: returns whether the card asks for a passkey (shown on the card, through its "passkey" event). */
  pair(central: Central): "passkey" | "done" {
    const l = this.linkOf(central);
    const bonded = this.bonds.get(l.address);
    if (bonded !== undefined) {
      // Bonded before: the link is encrypted with the stored keys, no passkey.
      Object.assign(l, { encrypted: true, mitm: bonded, bonded: true });
      return "done";
    }
    if (this.security.mitm && this.security.display) {
      l.passkey = this.security.passkey ?? String(randomInt(0, 1000000)).padStart(6, "0");
      this.toCard(6, "passkey", [l.passkey]);
      return "passkey";
    }
    this.paired(l, false); // Just Works: encrypted, not protected against a man in the middle
    return "done";
  }

  /** @internal The user typed the passkey the card showed. */
  enterPasskey(central: Central, passkey: string): boolean {
    const l = this.linkOf(central);
    if (l.passkey === undefined) throw new Error("ble: no pairing is waiting for a passkey");
    const ok = passkey === l.passkey;
    l.passkey = undefined;
    if (ok) this.paired(l, true);
    else this.toCard(AUTH_STATUS_BYTES, "security", [{ auth_status: "PASSKEY_ENTRY_FAILED", bonded: false, lv4: 0, kdist_own: 0, kdist_peer: 0 }]);
    return ok;
  }

  /** @internal The central ends the link (the card sees 0x13). */
  centralDisconnect(central: Central): void {
    this.linkOf(central);
    this.endLink(HCI.REMOTE_USER_TERMINATED, HCI.LOCAL_HOST_TERMINATED);
  }

  // ------------------------------------------------------------ inside

  private paired(l: Link, mitm: boolean): void {
    Object.assign(l, { encrypted: true, mitm, bonded: this.security.bond });
    if (this.security.bond) this.bonds.set(l.address, mitm);
    this.toCard(AUTH_STATUS_BYTES, "security", [{ auth_status: "SUCCESS", bonded: this.security.bond, lv4: 0, kdist_own: 0, kdist_peer: 0 }]);
  }

  private checkAccess(l: Link, need: Access, uuid: string): void {
    if ((need.encrypted && !l.encrypted) || (need.mitm && !l.mitm)) {
      throw new GattError(ATT.INSUFFICIENT_AUTHENTICATION, `characteristic ${uuid} needs a${need.mitm ? " MITM-protected" : "n encrypted"} link`);
    }
  }

  private find(uuid: unknown): Characteristic {
    const u = uuidOf(uuid);
    const c = this.table.chars.find((x) => x.uuid === u);
    if (!c) throw new GattError(ATT.ATTRIBUTE_NOT_FOUND, `no characteristic ${u}`);
    return c;
  }

  private notify(c: Characteristic, bytes: Uint8Array): void {
    const l = this.link;
    if (!l || !l.subscribed.has(c.uuid)) return; // NRF_ERROR_INVALID_STATE, which Espruino ignores
    if (this.toLose > 0) {
      this.toLose--;
      return;
    }
    l.central.receive({ uuid: c.uuid, data: bytes.slice(0, l.mtu - 3), at: this.clock.now() });
  }

  private endLink(cardReason: number, centralReason: number): void {
    const l = this.link!;
    this.link = undefined;
    if (l.passkey !== undefined) l.passkey = undefined;
    this.toCard(0, "disconnect", [cardReason]);
    // Disconnected, the stack restarts if a setServices waits for it.
    const p = this.pending;
    if (p) {
      this.pending = undefined;
      this.apply(p.fw, p.data, p.uart);
    }
    l.central.ended(centralReason);
  }

  /** An event for the card, through Espruino's IO buffer: `payload` bytes after the 3-byte BLE header, plus 2 of the buffer's own. */
  private enqueue(payload: number, run: (fw: BleFirmware) => void): void {
    const fw = this.fw;
    if (!fw) return; // no interpreter: nothing runs
    const cost = payload + 3 + 2;
    if (this.queued + cost > IO_BUFFER_BYTES - 4) {
      this.droppedEvents++;
      this.emit("overflow");
      return;
    }
    this.queued += cost;
    const life = this.life;
    if (fw.queue) {
      fw.queue(
        () => {
          if (life === this.life && fw === this.fw) run(fw);
        },
        () => {
          if (life === this.life) this.queued -= cost;
        },
      );
      return;
    }
    this.clock.schedule(this.clock.now(), () => {
      if (life !== this.life) return;
      this.queued -= cost;
      if (fw === this.fw) run(fw);
    });
  }

  private toCard(payload: number, event: string, args: unknown[]): void {
    this.enqueue(payload, (fw) => fw.emit(event, args.map((a) => (isObject(a) ? fw.realm.object(a) : a))));
  }

  private apply(fw: BleFirmware, data: unknown, uart: boolean): void {
    this.table = this.build(fw, data, uart);
    if (isObject(data) && Object.keys(data).length) this.servicesSet = true;
    this.emit("restart");
  }

  /** The GATT table for setServices' arguments (jsble_set_services). */
  private build(fw: BleFirmware, data: unknown, uart: boolean): Table {
    const { realm } = fw;
    const table: Table = { services: [], chars: [], uart };
    const open = (): Access => ({ encrypted: false, mitm: false });
    if (uart) {
      table.services.push(NUS);
      const base = { service: NUS, readable: false, indicate: false, maxLen: 20, value: new Uint8Array(0), onWrite: undefined, read: open(), write: open() };
      table.chars.push({ ...base, uuid: NUS_RX, writable: true, notify: false }, { ...base, uuid: NUS_TX, writable: false, notify: true });
    }
    if (!isObject(data)) return table;
    for (const sKey of Object.keys(data)) {
      const s = parseUuid(sKey);
      if ("error" in s) throw realm.error(`Invalid Service UUID: ${s.error}`);
      table.services.push(s.uuid);
      const chars = data[sKey];
      if (!isObject(chars)) continue;
      for (const cKey of Object.keys(chars)) {
        const c = parseUuid(cKey);
        if ("error" in c) throw realm.error(`Invalid Characteristic UUID: ${c.error}`);
        const spec = isObject(chars[cKey]) ? (chars[cKey] as Record<string, unknown>) : {};
        const value = spec.value === undefined ? new Uint8Array(0) : realm.u8(spec.value);
        const maxLen = Math.max(Math.trunc(Number(spec.maxLen)) & 0xffff || 1, value.length);
        const sec = isObject(spec.security) ? spec.security : {};
        const access = (a: unknown): Access => (isObject(a) ? { encrypted: Boolean(a.encrypted) || Boolean(a.mitm), mitm: Boolean(a.mitm) } : open());
        table.chars.push({
          service: s.uuid,
          uuid: c.uuid,
          readable: Boolean(spec.readable),
          writable: Boolean(spec.writable),
          notify: Boolean(spec.notify),
          indicate: Boolean(spec.indicate),
          maxLen,
          value,
          onWrite: typeof spec.onWrite === "function" || typeof spec.onWrite === "string" ? spec.onWrite : undefined,
          read: access(sec.read),
          write: access(sec.write),
        });
      }
    }
    return table;
  }
}

/**
 * The phone's side of one link: a GATT client. Made by Ble.connect();
 * useless once disconnected (connect again for a new link). Events:
 * "notification" (Notification), "disconnect" (HCI reason).
 */
export class Central extends EventEmitter {
  /** Every notification received on this link, in order. */
  readonly notifications: Notification[] = [];
  /** The reason the link ended, once it has. */
  disconnectReason: number | undefined;

  constructor(private readonly ble: Ble) {
    super();
  }

  get connected(): boolean {
    return this.disconnectReason === undefined;
  }

  /** The link's ATT_MTU: a write or a notification carries at most mtu - 3 bytes. */
  get mtu(): number {
    return this.ble.linkOf(this).mtu;
  }

  /** Ask for another MTU (as an ATT exchange would; the card takes 23..53). Returns the MTU now in force. */
  exchangeMtu(mtu: number): number {
    return this.ble.exchangeMtu(this, mtu);
  }

  /** The card's primary services and their characteristics with their properties. */
  discover(): DiscoveredService[] {
    return this.ble.discover(this);
  }

  /** Enable (or with on = false disable) notifications of a characteristic (its CCCD). */
  subscribe(uuid: string | number, on = true): void {
    this.ble.subscribe(this, uuid, on);
  }

  /** Read a characteristic's value; throws GattError unless it is readable (and the link secure enough). */
  read(uuid: string | number): Uint8Array {
    return this.ble.read(this, uuid);
  }

  /**
   * Write a value. Throws GattError when the card refuses it: over MTU - 3
   * (no long writes), not writable, link not secure enough, over maxLen.
   * With withoutResponse a refusal other than the size is silent (returns
   * false). A write that returns true was acknowledged: the card runs its
   * onWrite at its next idle moment (board.advance), unless its IO buffer
   * was full.
   */
  write(uuid: string | number, data: Uint8Array | readonly number[], options: { withoutResponse?: boolean } = {}): boolean {
    return this.ble.write(this, uuid, Uint8Array.from(data), Boolean(options.withoutResponse));
  }

  /** Start pairing: "passkey" when the card shows one (enter it with enterPasskey), "done" when the link is encrypted already. */
  pair(): "passkey" | "done" {
    return this.ble.pair(this);
  }

  /** Type the passkey read on the card's screen; true when pairing succeeded. */
  enterPasskey(passkey: string): boolean {
    return this.ble.enterPasskey(this, passkey);
  }

  /** The link's security as the card sees it. */
  get security(): { encrypted: boolean; mitm: boolean; bonded: boolean } {
    const l = this.ble.linkOf(this);
    return { encrypted: l.encrypted, mitm: l.mitm, bonded: l.bonded };
  }

  /** End the link from the phone (the card sees 0x13). */
  disconnect(): void {
    this.ble.centralDisconnect(this);
  }

  /** @internal */
  receive(n: Notification): void {
    this.notifications.push(n);
    this.emit("notification", n);
  }

  /** @internal */
  ended(reason: number): void {
    this.disconnectReason = reason;
    this.emit("disconnect", reason);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** The type name Espruino's %t prints. */
function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}
