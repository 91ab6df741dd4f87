/**
 * One life of the interpreter: a node:vm context holding exactly the globals
 * an Espruino card offers, with its timers and watches. A Runtime ends with
 * reset(), load() or a power cut; the board (board.ts) then starts a new one.
 *
 * Every way into firmware code (evaluating source, a timer, a watch, an E
 * event) goes through one trampoline script run with runInContext, so that
 * promise jobs run right after each callback (microtaskMode "afterEvaluate")
 * and a runaway loop is stopped after scriptTimeoutMs ("Execution
 * Interrupted", as Ctrl-C on a card). An exception that escapes prints
 * "Uncaught ..." and the board carries on, as Espruino does.
 *
 * Known differences: Espruino runs promise jobs once all the timers due in
 * one idle loop have run, here they run after each callback; an unhandled
 * rejection is reported once the host's current task ends; "Uncaught"
 * lines carry no stack trace; a function declaration typed at the REPL
 * answers =undefined where Espruino shows the function.
 */
import vm from "node:vm";
import type { BoardConfig } from "../../firmware/board-config.ts";
import type { VirtualClock } from "./clock.ts";
import { PowerCut } from "./flash.ts";
import { createGraphicsClass, type GraphicsHooks } from "./graphics.ts";
import { inspect } from "./inspect.ts";
import { byteHelpers, cryptoModule, type NrfRecord, nrfModule, processEnv, processMemory, storageModule } from "./libs.ts";
import type { Ble } from "./ble.ts";
import type { Pins } from "./pins.ts";
import { Realm } from "./realm.ts";
import { createSpiClass, type SpiSink } from "./spi.ts";
import type { Storage } from "./storage.ts";
import { Timers } from "./timers.ts";
import { Watches } from "./watches.ts";

/** ECMAScript built-ins Espruino 2v29 has; V8's others (Map, Set, Symbol, Proxy, Reflect, BigInt, RangeError, Intl...) are removed. */
const ES_GLOBALS = new Set([
  "Object", "Function", "Array", "Number", "Boolean", "String", "Date", "Promise", "RegExp", "JSON", "Math",
  "Error", "ReferenceError", "SyntaxError", "TypeError",
  "ArrayBuffer", "DataView", "Uint8Array", "Int8Array", "Uint8ClampedArray", "Uint16Array", "Int16Array",
  "Uint32Array", "Int32Array", "Float32Array", "Float64Array",
  "parseFloat", "parseInt", "isFinite", "isNaN", "eval", "encodeURIComponent", "decodeURIComponent",
  "Infinity", "NaN", "undefined", "globalThis",
]);

/**
 * Standard methods Espruino lacks (design.md, checked on the real
 * interpreter): removed, so firmware using them fails here too. And
 * Espruino's JSON.stringify writes typed arrays and ArrayBuffers as arrays.
 */
const ESPRUINO_DIFFERENCES = `
  delete Array.from; delete Object.freeze; delete Number.isInteger; delete Math.imul; delete String.prototype.replaceAll;
  (function (stringify) {
    function bytesAsArrays(key, value) {
      if (value instanceof ArrayBuffer) value = new Uint8Array(value);
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        var a = [];
        for (var i = 0; i < value.length; i++) a.push(value[i]);
        return a;
      }
      return value;
    }
    JSON.stringify = function stringify_(value, replacer, space) {
      var fn = typeof replacer === "function" ? function (k, v) { return replacer.call(this, k, bytesAsArrays(k, v)); } : bytesAsArrays;
      return stringify(value, fn, space);
    };
  })(JSON.stringify);`;

/** The slot the trampoline reads its call from; not an identifier, so no firmware code can name it by accident. */
const SLOT = "\u2063inkcard call";
const TRAMPOLINE = new vm.Script(`globalThis[${JSON.stringify(SLOT)}]()`, { filename: "inkcard:call" });

/** What a Runtime needs from its board. */
export interface RuntimeHost {
  readonly config: BoardConfig;
  readonly clock: VirtualClock;
  readonly pins: Pins;
  readonly storage: Storage;
  readonly serial: string;
  /** The Espruino version reported (process.env.VERSION, process.version). */
  readonly version: string;
  readonly nrf: NrfRecord;
  /** The board's Bluetooth model: NRF's calls go to it, its events come back through invoke. */
  readonly ble: Ble;
  readonly scriptTimeoutMs: number;
  readonly graphicsHooks: GraphicsHooks;
  readonly spiSink: SpiSink;
  /** False once the power is gone: nothing more runs. */
  powered(): boolean;
  /** Throws PowerCut once the board has lost power. */
  guard(): void;
  /** Called when firmware code has returned to the idle loop (outermost call only). */
  afterCall(): void;
  /** Console output (text as Espruino prints it, "\n" line ends). */
  print(text: string): void;
  getTime(): number;
  setTime(seconds: number): void;
  /** getTime() at a clock time. */
  secondsAt(ms: number): number;
  setPassword(password: string | undefined): void;
  lockConsole(): void;
  setEcho(on: boolean): void;
  setConsole(device: unknown): void;
  /** reset(), load(), save(): done by the board once the running code returns. */
  requestReset(clearFlash: boolean): void;
  requestLoad(file: string | undefined): void;
  requestSave(): void;
}

export type EvalResult = { ok: true; value: unknown } | { ok: false };

export class Runtime {
  readonly context: vm.Context;
  readonly realm: Realm;
  readonly timers: Timers;
  readonly watches: Watches;
  /** Source the REPL ran since this interpreter started: what save() keeps (see board.ts). */
  readonly program: string[] = [];
  private readonly listeners = new Map<string, unknown[]>();
  private readonly sandbox: Record<string, unknown>;
  private readonly builtIn: Set<string>;
  private alive = true;
  private depth = 0;

  constructor(private readonly host: RuntimeHost) {
    this.sandbox = {};
    this.context = vm.createContext(this.sandbox, {
      name: "inkcard board",
      microtaskMode: "afterEvaluate",
      codeGeneration: { strings: true, wasm: false },
    });
    vm.runInContext(
      `for (const k of Object.getOwnPropertyNames(globalThis)) if (!${JSON.stringify([...ES_GLOBALS])}.includes(k)) delete globalThis[k]; ${ESPRUINO_DIFFERENCES}`,
      this.context,
    );
    this.realm = new Realm(this.context);
    const invoke = (cb: unknown, args: unknown[]) => this.invoke(cb, args);
    this.timers = new Timers(host.clock, this.realm, invoke);
    this.watches = new Watches(host.clock, host.pins, this.realm, invoke, (ms) => host.secondsAt(ms));
    Object.defineProperty(this.sandbox, SLOT, { value: undefined, writable: true, enumerable: false });
    Object.assign(this.sandbox, this.globals());
    this.builtIn = new Set([...ES_GLOBALS, ...Object.keys(this.sandbox)]);
    watchRejections(this);
  }

  /** Run source in the global scope. Errors are printed as Uncaught; the result says whether it threw. */
  evaluate(code: string, filename: string): EvalResult {
    let script: vm.Script;
    try {
      script = new vm.Script(code, { filename });
    } catch (e) {
      this.uncaught(e);
      return { ok: false };
    }
    return this.run(() => script.runInContext(this.context, this.timeout()));
  }

  /** Call a firmware callback (a function, or a string of code as Espruino accepts). */
  invoke(callback: unknown, args: unknown[]): void {
    if (!this.alive) return;
    if (typeof callback === "string") {
      this.evaluate(callback, "callback");
      return;
    }
    const previous = this.sandbox[SLOT];
    this.sandbox[SLOT] = () => Reflect.apply(callback as Function, undefined, args);
    try {
      this.run(() => TRAMPOLINE.runInContext(this.context, this.timeout()));
    } finally {
      this.sandbox[SLOT] = previous;
    }
  }

  /** E.emit(event, ...args): run the handlers registered with E.on. */
  emit(event: string, args: unknown[] = []): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) this.invoke(fn, args);
  }

  /** The interpreter is gone: no more timers, watches or callbacks. */
  kill(): void {
    this.alive = false;
    this.timers.clearAll();
    this.watches.kill();
  }

  /** How the REPL and print() show a value. */
  inspect(value: unknown, repl: boolean): string {
    return inspect(value, { repl, isNative: (f) => !this.realm.isOwnFunction(f) });
  }

  /** Print an exception that escaped firmware code, as Espruino does. */
  uncaught(e: unknown): void {
    if (e instanceof PowerCut || !this.alive || !this.host.powered()) return;
    if ((e as { code?: string })?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
      this.host.print("Execution Interrupted\n");
      return;
    }
    this.host.print("Uncaught " + this.describe(e) + "\n");
  }

  /** A promise of this context was rejected and nothing handled it. */
  rejected(reason: unknown): void {
    if (!this.alive) return;
    this.run(() => {
      throw this.realm.error("Unhandled promise rejection: " + this.describe(reason));
    });
  }

  private run(fn: () => unknown): EvalResult {
    if (!this.alive || !this.host.powered()) return { ok: false };
    this.depth++;
    try {
      return { ok: true, value: fn() };
    } catch (e) {
      this.uncaught(e);
      return { ok: false };
    } finally {
      if (--this.depth === 0) this.host.afterCall();
    }
  }

  private timeout(): vm.RunningScriptOptions {
    return this.host.scriptTimeoutMs > 0 ? { timeout: this.host.scriptTimeoutMs } : {};
  }

  /** An exception as Espruino's "Uncaught %v" shows it. */
  private describe(e: unknown): string {
    if (e !== null && typeof e === "object" && "message" in e && "name" in e) {
      const { name, message } = e as { name: unknown; message: unknown };
      // V8 says `x is not defined`, Espruino `"x" is not defined`.
      const m = name === "ReferenceError" ? String(message).replace(/^(\S+) is not defined$/, '"$1" is not defined') : String(message);
      return m ? `${String(name)}: ${m}` : String(name);
    }
    return typeof e === "string" ? e : this.inspect(e, false);
  }

  /** The card's globals, beyond the ECMAScript built-ins. */
  private globals(): Record<string, unknown> {
    const h = this.host;
    const realm = this.realm;
    const guard = () => h.guard();
    const pin = (p: unknown): number => {
      const n = h.pins.find(p);
      if (n === undefined) throw realm.error("Invalid pin!");
      return n;
    };
    const print = (...args: unknown[]) => {
      guard();
      h.print(args.map((a) => (typeof a === "string" ? a : this.inspect(a, false))).join(" ") + "\n");
    };
    const modules: Record<string, object> = {
      Storage: storageModule(realm, h.storage, guard),
      crypto: cryptoModule(realm, h.config.hashes),
    };
    const E = realm.object({
      ...byteHelpers(realm),
      on: (event: unknown, fn: unknown) => {
        const list = this.listeners.get(String(event)) ?? [];
        list.push(fn);
        this.listeners.set(String(event), list);
      },
      removeAllListeners: (event?: unknown) => {
        if (event === undefined) this.listeners.clear();
        else this.listeners.delete(String(event));
      },
      emit: (event: unknown, ...args: unknown[]) => this.emit(String(event), args),
      setPassword: (pw?: unknown) => h.setPassword(pw === undefined ? undefined : String(pw)),
      lockConsole: () => h.lockConsole(),
      setConsole: (device: unknown) => h.setConsole(device),
      setBootCode: (code?: unknown, alwaysExec?: unknown) => {
        guard();
        h.storage.erase(".bootcde");
        h.storage.erase(".bootrst");
        if (typeof code === "string" && code.length) h.storage.write(alwaysExec ? ".bootrst" : ".bootcde", code);
      },
      getTemperature: () => 21.25, // the simulated chip sits at room temperature
      // Accepted and ignored, as on Espruino's Linux build: the simulated chip has no watchdog to reset it.
      enableWatchdog: () => {},
      kickWatchdog: () => {},
    });
    const env = () => realm.intrinsics.JSON.parse(JSON.stringify(processEnv({ config: h.config, serial: h.serial, version: h.version, storageBytes: h.storage.getStats().totalBytes })));
    const process = realm.object({ version: h.version, memory: () => realm.object(processMemory(h.config, this.sandbox, this.builtIn)) });
    Object.defineProperty(process, "env", { get: env, enumerable: true });
    const consoleObj = realm.object({ log: print, info: print, warn: print, error: print, debug: print });
    const global = vm.runInContext("globalThis", this.context);

    return {
      global,
      print,
      console: consoleObj,
      E,
      process,
      NRF: nrfModule(realm, h.nrf, guard, h.ble, (cb, args) => this.invoke(cb, args)),
      SPI: createSpiClass(h.pins, realm, h.spiSink, guard),
      Graphics: createGraphicsClass(h.graphicsHooks),
      require: (name: unknown) => {
        const m = modules[String(name)];
        if (!m) throw realm.error(`Module ${JSON.stringify(String(name))} not found`);
        return m;
      },
      setTimeout: (cb: unknown, ms: unknown, ...args: unknown[]) => (guard(), this.timers.set(cb, ms, args, false)),
      setInterval: (cb: unknown, ms: unknown, ...args: unknown[]) => (guard(), this.timers.set(cb, ms, args, true)),
      clearTimeout: (...args: unknown[]) => (guard(), this.timers.clear(args, "Timeout")),
      clearInterval: (...args: unknown[]) => (guard(), this.timers.clear(args, "Interval")),
      setWatch: (cb: unknown, p: unknown, options: unknown) => (guard(), this.watches.set(cb, p, options)),
      clearWatch: (...args: unknown[]) => (guard(), this.watches.clear(args)),
      digitalWrite: (p: unknown, value: unknown) => {
        guard();
        let v = typeof value === "boolean" ? (value ? -1 : 0) : Math.trunc(Number(value)) || 0;
        if (Array.isArray(p)) {
          for (let i = p.length - 1; i >= 0; i--, v >>= 1) h.pins.write(pin(p[i]), (v & 1) as 0 | 1);
        } else h.pins.write(pin(p), v !== 0 ? 1 : 0);
      },
      digitalRead: (p: unknown) => {
        guard();
        if (Array.isArray(p)) return p.reduce((acc: number, q: unknown) => (acc << 1) | h.pins.read(pin(q)), 0);
        return h.pins.read(pin(p));
      },
      pinMode: (p: unknown, mode?: unknown) => {
        guard();
        if (!h.pins.setMode(pin(p), mode === undefined ? "auto" : String(mode))) throw realm.error("Unknown pin mode");
      },
      getTime: () => h.getTime(),
      setTime: (s: unknown) => h.setTime(Number(s)),
      getSerial: () => h.serial,
      reset: (clearFlash?: unknown) => h.requestReset(Boolean(clearFlash)),
      load: (file?: unknown) => h.requestLoad(file === undefined ? undefined : String(file)),
      save: () => {
        if (h.storage.list().includes(".bootcde")) throw realm.error("Cannot save: .bootcde file already exists. Please remove it first.");
        h.requestSave();
      },
      echo: (on: unknown) => h.setEcho(Boolean(on)),
      atob: (s: unknown) => Buffer.from(String(s), "base64").toString("latin1"),
      btoa: (s: unknown) => Buffer.from(String(s), "latin1").toString("base64"),
    };
  }
}

/**
 * A promise rejected with no handler in a board's context is the firmware's
 * bug: printed as Espruino does, not a crash of the simulator. Rejections
 * from anywhere else keep Node's default (an uncaught exception) unless
 * someone else listens.
 */
const byPromiseProto = new WeakMap<object, Runtime>();
let listening = false;
function watchRejections(rt: Runtime): void {
  byPromiseProto.set(vm.runInContext("Promise.prototype", rt.context), rt);
  if (listening) return;
  listening = true;
  process.on("unhandledRejection", (reason, promise) => {
    const owner = byPromiseProto.get(Object.getPrototypeOf(promise));
    if (owner) {
      owner.rejected(reason);
      return;
    }
    if (process.listenerCount("unhandledRejection") === 1) throw reason;
  });
}
