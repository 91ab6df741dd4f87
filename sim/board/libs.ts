/**
 * The pieces of Espruino's native library that need no board state:
 * require("crypto"), E's byte helpers, process.env / process.memory, and the
 * NRF object (Bluetooth, modelled in ble.ts).
 */
import { createHash } from "node:crypto";
import type { Realm } from "./realm.ts";
import { bytesToString } from "./realm.ts";
import { crc32, type Storage, type StorageData } from "./storage.ts";
import { PowerCut } from "./flash.ts";
import type { BoardConfig } from "../../firmware/board-config.ts";
import type { Ble, BleFirmware } from "./ble.ts";
import type { Invoke } from "./timers.ts";

/** The interpreter version the simulator behaves like (design.md: checked on 2v29). */
export const ESPRUINO_VERSION = "2v29";

/** What Espruino's board files say about the chips we know; unknown boards get the nRF52832's. */
const CHIPS: Record<string, { ram: number; flash: number; variables: number }> = {
  MDBT42Q: { ram: 65536, flash: 524288, variables: 2950 },
  PUCKJS: { ram: 65536, flash: 524288, variables: 2630 },
};

/** require("crypto"): the hashes the board config lists, each returning an ArrayBuffer as Espruino does. */
export function cryptoModule(realm: Realm, hashes: readonly string[]): object {
  const mod: Record<string, (data: unknown) => ArrayBuffer> = {};
  for (const name of hashes) {
    const algo = name.toLowerCase(); // "SHA256" -> "sha256"
    mod[name] = (data: unknown) => indexedAsBytes(realm.arrayBuffer(createHash(algo).update(realm.u8(data)).digest()));
  }
  return realm.object(mod);
}

/**
 * ab, indexed as Espruino indexes an ArrayBuffer: ab[i] reads and writes
 * byte i (an index past the end reads undefined). JavaScript's ArrayBuffer
 * has no indices, and firmware that reads a digest so (core/otp.ts) must
 * compute the same codes here as on the card.
 */
export function indexedAsBytes(ab: ArrayBuffer): ArrayBuffer {
  const view = new Uint8Array(ab);
  for (let i = 0; i < view.length; i++) {
    Object.defineProperty(ab, i, {
      get: () => view[i],
      set: (v: number) => {
        view[i] = v;
      },
    });
  }
  return ab;
}

/** E.toString, E.toUint8Array, E.CRC32. */
export function byteHelpers(realm: Realm) {
  return {
    toString: (...args: unknown[]) => bytesToString(realm.bytes(args)),
    toUint8Array: (...args: unknown[]) => realm.uint8Array(realm.u8(args)),
    CRC32: (data: unknown) => crc32(realm.u8(data)),
  };
}

export interface BoardFacts {
  config: BoardConfig;
  serial: string;
  version: string;
  storageBytes: number;
}

/** process.env: generated on each read, as on Espruino. */
export function processEnv(f: BoardFacts): Record<string, unknown> {
  const chip = CHIPS[f.config.board] ?? CHIPS.MDBT42Q;
  return {
    VERSION: f.version,
    BOARD: f.config.board,
    RAM: chip.ram,
    FLASH: chip.flash,
    STORAGE: f.storageBytes,
    SERIAL: f.serial,
    CONSOLE: "Serial1",
    // Built-in modules: host tools do not try to fetch these.
    MODULES: "Flash,Storage,heatshrink,crypto,NRF",
    EXPTR: 0x20002b6c,
  };
}

/**
 * process.memory(). An estimate, not Espruino's variable count: the
 * interpreter's real usage depends on how Espruino stores each value. It
 * counts one block per property reachable from the firmware's globals (three
 * levels deep) plus a fixed share for the interpreter's own state.
 */
export function processMemory(config: BoardConfig, globals: object, builtIn: ReadonlySet<string>): Record<string, number> {
  const total = (CHIPS[config.board] ?? CHIPS.MDBT42Q).variables;
  const seen = new Set<object>();
  const count = (v: unknown, depth: number): number => {
    if (v === null || (typeof v !== "object" && typeof v !== "function") || seen.has(v) || depth > 3) return 1;
    seen.add(v);
    if (ArrayBuffer.isView(v)) return 1 + Math.ceil(v.byteLength / 12);
    let n = 1;
    for (const k of Object.keys(v)) {
      try {
        n += count((v as Record<string, unknown>)[k], depth + 1);
      } catch {
        n += 1;
      }
    }
    return n;
  };
  let used = 150; // the interpreter's own objects (root, timers, watches, built-in modules)
  for (const k of Object.keys(globals)) if (!builtIn.has(k)) used += 1 + count((globals as Record<string, unknown>)[k], 1);
  const usage = Math.min(total, used);
  return { free: total - usage, usage, total, history: 0, gc: 0, gctime: 0, blocksize: 14 };
}

/** What the firmware asked of the Bluetooth stack, for the simulator's other parts to read. */
export interface NrfRecord {
  services: unknown;
  servicesOptions: unknown;
  advertising: unknown;
  advertisingOptions: unknown;
  sleeping: boolean;
}

/**
 * The NRF object: records what the firmware asked (NrfRecord) and hands the
 * Bluetooth calls to the board's model (ble.ts), which runs NRF's events
 * and onWrite callbacks through `invoke`. Listeners are this interpreter's:
 * a reset() starts without them, as on Espruino.
 */
export function nrfModule(realm: Realm, record: NrfRecord, guard: () => void, ble: Ble, invoke: Invoke): object {
  const listeners = new Map<string, unknown[]>();
  const fw: BleFirmware = {
    realm,
    invoke,
    emit: (event, args) => {
      for (const fn of [...(listeners.get(event) ?? [])]) invoke(fn, args);
    },
  };
  ble.attach(fw);
  return realm.object({
    setServices(services: unknown, options?: unknown) {
      guard();
      ble.setServices(fw, services, options);
      record.services = services;
      record.servicesOptions = options;
    },
    updateServices(services: unknown) {
      guard();
      ble.updateServices(fw, services);
    },
    setAdvertising(data: unknown, options?: unknown) {
      guard();
      if (options !== undefined && (options === null || typeof options !== "object")) throw realm.typeError(`Expecting 'options' to be object or undefined, got ${typeof options}`);
      ble.setAdvertising(options);
      record.advertising = data;
      record.advertisingOptions = options;
    },
    setSecurity(options: unknown) {
      guard();
      ble.setSecurity(fw, options);
    },
    getSecurityStatus() {
      guard();
      return ble.securityStatus(fw);
    },
    getAddress() {
      return ble.address;
    },
    disconnect() {
      guard();
      ble.disconnectFromCard();
    },
    sleep() {
      guard();
      record.sleeping = true;
      ble.setSleeping(true);
    },
    wake() {
      guard();
      record.sleeping = false;
      ble.setSleeping(false);
    },
    on(event: unknown, fn: unknown) {
      guard();
      const list = listeners.get(String(event)) ?? [];
      list.push(fn);
      listeners.set(String(event), list);
    },
    removeListener(event: unknown, fn: unknown) {
      const list = listeners.get(String(event));
      const i = list ? list.indexOf(fn) : -1;
      if (i >= 0) list!.splice(i, 1);
    },
    removeAllListeners(event?: unknown) {
      if (event === undefined) listeners.clear();
      else listeners.delete(String(event));
    },
  });
}

/**
 * require("Storage") for the firmware: the storage model's API with results
 * made in the firmware's realm and its errors rethrown as the firmware's
 * Errors. A power cut (PowerCut) passes through untouched.
 */
export function storageModule(realm: Realm, storage: Storage, guard: () => void): object {
  const call = <T>(fn: () => T): T => {
    guard();
    try {
      return fn();
    } catch (e) {
      if (e instanceof PowerCut || !(e instanceof Error)) throw e;
      throw realm.error(e.message);
    }
  };
  return realm.object({
    read: (name: string, offset?: number, length?: number) => call(() => storage.read(name, offset, length)),
    readArrayBuffer: (name: string) =>
      call(() => {
        const bytes = storage.readBytes(name);
        return bytes && realm.arrayBuffer(bytes);
      }),
    readJSON: (name: string, noExceptions?: boolean) =>
      call(() => {
        const text = storage.read(name);
        if (text === undefined) return undefined;
        try {
          return realm.intrinsics.JSON.parse(text);
        } catch (e) {
          if (noExceptions) return undefined;
          throw e;
        }
      }),
    write: (name: string, data: StorageData, offset?: number, size?: number) => call(() => storage.write(name, data, offset, size)),
    writeJSON: (name: string, data: unknown) => call(() => storage.writeJSON(name, data)),
    erase: (name: string) => call(() => storage.erase(name)),
    eraseAll: () => call(() => storage.eraseAll()),
    list: (pattern?: RegExp | string) => call(() => realm.array(storage.list(pattern))),
    hash: (pattern?: RegExp | string) => call(() => storage.hash(pattern)),
    getFree: () => call(() => storage.getFree()),
    getStats: () => call(() => realm.object(storage.getStats())),
    compact: () => call(() => storage.compact()),
  });
}
