/**
 * setTimeout / setInterval / clearTimeout / clearInterval with Espruino's
 * semantics, on the virtual clock:
 * - one id space for timeouts and intervals (either clear function clears either);
 * - delays below 0.1 ms (or NaN) become 0.1 ms, above 100 years are an error;
 * - an interval keeps its phase: the next run is due one period after the
 *   previous due time, however long the callback took;
 * - clearTimeout() with no argument clears every timer, clearTimeout(undefined) throws;
 * - a callback may be a function or a string of code; extra arguments are passed on.
 */
import type { ClockTask, VirtualClock } from "./clock.ts";
import type { Realm } from "./realm.ts";

/** Runs a firmware callback (function or code string) and reports what it throws as Espruino would. */
export type Invoke = (callback: unknown, args: unknown[]) => void;

const MIN_MS = 0.1;
const MAX_MS = 100 * 365.25 * 24 * 3600 * 1000;

interface Timer {
  task: ClockTask;
  interval: number | undefined;
}

export class Timers {
  private readonly timers = new Map<number, Timer>();
  private nextId = 1;

  constructor(
    private readonly clock: VirtualClock,
    private readonly realm: Realm,
    private readonly invoke: Invoke,
  ) {}

  /** setTimeout / setInterval. */
  set(callback: unknown, ms: unknown, args: unknown[], repeat: boolean): number {
    if (typeof callback !== "function" && typeof callback !== "string") {
      throw this.realm.error("Function or String not supplied!");
    }
    let period = Number(ms);
    if (!(period >= MIN_MS)) period = MIN_MS;
    if (period > MAX_MS) throw this.realm.error("Interval is too long (>100 years)");
    const id = this.nextId++;
    const timer: Timer = { task: undefined as unknown as ClockTask, interval: repeat ? period : undefined };
    const fire = (): void => {
      if (timer.interval === undefined) this.timers.delete(id);
      this.invoke(callback, args);
      // Rescheduled after the callback, unless it cleared itself.
      if (timer.interval !== undefined && this.timers.get(id) === timer) {
        timer.task = this.clock.schedule(timer.task.at + timer.interval, fire);
      }
    };
    timer.task = this.clock.schedule(this.clock.now() + period, fire);
    this.timers.set(id, timer);
    return id;
  }

  /** clearTimeout / clearInterval; `args` is the call's arguments. */
  clear(args: unknown[], kind: "Timeout" | "Interval"): void {
    if (args.length === 0) {
      this.clearAll();
      return;
    }
    if (args[0] === undefined) throw this.realm.error(`clear${kind}(undefined) not allowed. Use clear${kind}() instead`);
    const id = Number(args[0]);
    const timer = this.timers.get(id);
    if (!timer) return;
    this.clock.cancel(timer.task);
    this.timers.delete(id);
  }

  clearAll(): void {
    for (const t of this.timers.values()) this.clock.cancel(t.task);
    this.timers.clear();
  }

  get size(): number {
    return this.timers.size;
  }
}
