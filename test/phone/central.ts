/**
 * A phone's side of the simulator's Bluetooth model for tests: a CardTransport
 * over a board's Central, a PhoneStore in memory, and a driver that moves the
 * board's virtual clock while the relay works. Shared by the relay's tests
 * against the stub card (relay.test.ts) and against the firmware
 * (firmware-link.test.ts).
 */
import * as F from "../../firmware/core/frames.ts";
import type { PhoneState, PhoneStore } from "../../host-tools/phone/relay.ts";
import type { CardTransport } from "../../host-tools/phone/transport.ts";
import type { Central } from "../../sim/board/ble.ts";
import type { Board } from "../../sim/board/board.ts";

/** A store in memory that records every save (deep copies), so a test can see what was durable when. */
export class MemoryStore implements PhoneStore {
  saves: PhoneState[] = [];
  constructor(
    public state: PhoneState,
    private readonly events: string[] = [],
  ) {}
  load(): PhoneState {
    return structuredClone(this.state);
  }
  save(s: PhoneState): void {
    this.state = structuredClone(s);
    this.saves.push(structuredClone(s));
    for (const c of Object.values(s.cards)) this.events.push(`save seq ${c.seq}`);
  }
}

/** A CardTransport over the board's Central; `drop` can swallow chosen writes, `inject` plays a hostile notifier. */
export class CentralTransport implements CardTransport {
  readonly maxWrite: number;
  readonly writes: Uint8Array[] = [];
  drop: (f: Uint8Array, n: number) => boolean = () => false;
  failWrites = false;
  private notify: (f: Uint8Array) => void = () => {};
  private gone: () => void = () => {};
  constructor(
    readonly central: Central,
    private readonly events: string[] = [],
  ) {
    this.maxWrite = Math.min(central.mtu - 3, F.MAX_WRITE);
    central.subscribe(F.LINK_NOTIFY);
    central.on("notification", (n: { uuid: string; data: Uint8Array }) => {
      if (n.uuid === F.LINK_NOTIFY) this.notify(n.data);
    });
    central.on("disconnect", () => this.gone());
  }
  async write(fragment: Uint8Array): Promise<void> {
    if (this.failWrites) throw new Error("the phone app died");
    if (!this.central.connected) throw new Error("link down");
    if (fragment.length > this.maxWrite) throw new Error("write over maxWrite");
    this.events.push("write");
    this.writes.push(fragment.slice());
    if (this.drop(fragment, this.writes.length - 1)) return;
    this.central.write(F.LINK_WRITE, fragment, { withoutResponse: true });
  }
  onNotify(l: (f: Uint8Array) => void): void {
    this.notify = l;
  }
  onDisconnect(l: () => void): void {
    this.gone = l;
  }
  inject(f: Uint8Array): void {
    this.notify(f);
  }
  async close(): Promise<void> {
    if (this.central.connected) this.central.disconnect();
  }
}

/**
 * Runs the relay's promise while moving the board's clock in small steps
 * (each step lets the relay's awaits settle first); `during` runs after each
 * step. Fails after `limitMs` of virtual time.
 */
export async function drive<T>(r: { board: Board }, p: Promise<T>, during: () => void = () => {}, limitMs = 600_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => ((done = true), (value = v)),
    (e) => ((done = true), (error = e)),
  );
  const start = r.board.now();
  for (;;) {
    for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res));
    if (done) break;
    if (r.board.now() - start > limitMs) throw new Error("the relay did not finish in virtual time");
    r.board.advance(20);
    during();
  }
  if (error !== undefined) throw error;
  return value as T;
}

