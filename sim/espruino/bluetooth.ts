/**
 * The espruino engine's Bluetooth: the board's own model (sim/board/ble.ts,
 * the same Ble and Central as the vm engine's) driven by the shim's NRF
 * (shim.ts) over the channel. The card's NRF calls arrive as JSON and are
 * made on the model; what the model has for the card (a central's writes,
 * connect, disconnect, passkey, security) is sent one line at a time, the
 * next only once the shim has taken the previous (its K record): the model
 * counts each against Espruino's 1 KB IO buffer until then (BleFirmware.queue),
 * so writes that come faster than the card handles them fill that buffer and
 * the ones that do not fit are dropped and counted there, as on a card;
 * nothing is dropped between the model and the card.
 *
 * The model speaks to "the firmware's realm" (errors, objects): here a realm
 * of our own, whose objects only cross the channel as JSON. onWrite on the
 * model's side is the characteristic's key in the card's table (a string),
 * which the shim maps back to the firmware's function.
 */
import vm from "node:vm";
import type { Ble, BleFirmware } from "../board/ble.ts";
import { Realm } from "../board/realm.ts";

const OPS: Record<string, string> = { s: "setServices", u: "updateServices", k: "setSecurity", a: "setAdvertising", d: "disconnect", z: "sleep", w: "wake" };

interface Pending {
  run: () => void;
  done: () => void;
}

export class CardRadio {
  private readonly realm = new Realm(vm.createContext({}));
  private fw: BleFirmware | undefined;
  private readonly fifo: Pending[] = [];
  /** done() of the line the card has not taken yet. */
  private inFlight: (() => void) | undefined;
  /** The line run() produced, while pump() runs it. */
  private line: string | undefined;

  constructor(
    readonly ble: Ble,
    private readonly send: (line: string) => void,
    /** The card's console output (the model's messages, and the errors a card would have thrown). */
    private readonly print: (text: string) => void,
  ) {}

  /** Something for the card is queued or on its way. */
  get busy(): boolean {
    return this.inFlight !== undefined || this.fifo.length > 0;
  }

  /** The shim said hello: a new interpreter, with none of the previous one's handlers. */
  attach(): void {
    this.flush();
    const fw: BleFirmware = {
      realm: this.realm,
      invoke: (key, args) => {
        const data = (args[0] as { data: unknown }).data;
        this.line = `W${String(key)},${Buffer.from(this.realm.u8(data)).toString("base64")}`;
      },
      emit: (event, args) => {
        this.line = "V" + JSON.stringify([event, ...args]);
      },
      queue: (run, done) => {
        this.fifo.push({ run, done });
        this.pump();
      },
    };
    this.fw = fw;
    this.ble.attach(fw);
  }

  /** The interpreter is gone (power cut): the link drops, and what was queued for the card is lost with its RAM. */
  powerOff(): void {
    this.fw = undefined;
    this.flush();
    this.ble.powerOff();
  }

  /** The shim took the line in flight off its IO buffer. */
  taken(): void {
    const done = this.inFlight;
    this.inFlight = undefined;
    done?.();
    this.pump();
  }

  /** A call to NRF from the card (JSON [op, a, b], shim.ts). */
  call(json: string): void {
    const fw = this.fw;
    if (!fw) return;
    let op: unknown, a: unknown, b: unknown;
    try {
      [op, a, b] = JSON.parse(json) as unknown[];
    } catch {
      this.print(`\r\nsimulator: a garbled NRF call from the card's shim: ${JSON.stringify(json.slice(0, 80))}\r\n`);
      return;
    }
    // JSON has no undefined: Espruino writes it as null.
    a = a === null ? undefined : a;
    b = b === null ? undefined : b;
    const ble = this.ble;
    try {
      if (op === "s") ble.setServices(fw, withWriteKeys(a), b);
      else if (op === "u") ble.updateServices(fw, a);
      else if (op === "k") ble.setSecurity(fw, a);
      else if (op === "a") ble.setAdvertising(b);
      else if (op === "d") ble.disconnectFromCard();
      else if (op === "z" || op === "w") ble.setSleeping(op === "z");
    } catch (e) {
      // On a card the call itself throws (and the firmware may catch it); here the call has long returned: say so on the console.
      const err = e as Error;
      this.print(`\r\nsimulator: NRF.${OPS[String(op)] ?? "?"} threw on the card's behalf after it returned: ${err.name ?? "Error"}: ${err.message}\r\n`);
    }
  }

  private pump(): void {
    while (!this.inFlight && this.fifo.length) {
      const next = this.fifo.shift()!;
      this.line = undefined;
      next.run();
      const line = this.line as string | undefined;
      if (line === undefined) {
        next.done(); // nothing for the card after all (no handler, another interpreter)
        continue;
      }
      this.inFlight = next.done;
      this.send(line);
    }
  }

  private flush(): void {
    const dones = this.fifo.splice(0).map((p) => p.done);
    if (this.inFlight) dones.unshift(this.inFlight);
    this.inFlight = undefined;
    for (const d of dones) d();
  }
}

/** The card's table with each characteristic's onWrite set to its key: the shim finds the function by that key. */
function withWriteKeys(table: unknown): unknown {
  if (!isObject(table)) return table;
  const out: Record<string, unknown> = {};
  for (const [s, chars] of Object.entries(table)) {
    if (!isObject(chars)) {
      out[s] = chars;
      continue;
    }
    const c2: Record<string, unknown> = {};
    for (const [c, spec] of Object.entries(chars)) c2[c] = isObject(spec) ? { ...spec, onWrite: c } : spec;
    out[s] = c2;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
