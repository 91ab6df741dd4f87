/**
 * The board's virtual clock. Time moves only when advance() is called (or
 * when a caller chooses to follow the wall clock), so tests can run hours of
 * card time in milliseconds and every run is repeatable.
 *
 * Tasks are kept in a binary heap ordered by (time, creation order): two
 * tasks due at the same moment run in the order they were scheduled, as
 * Espruino runs timers that are due in the same idle loop.
 */

/** A scheduled task; pass it to cancel(). */
export interface ClockTask {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

export class VirtualClock {
  private nowMs = 0;
  private seq = 0;
  private readonly heap: ClockTask[] = [];

  /** Milliseconds since the clock was created (monotonic; never goes back). */
  now(): number {
    return this.nowMs;
  }

  /** Run `run` when the clock reaches `at` (ms). A time in the past means "at the next idle moment". */
  schedule(at: number, run: () => void): ClockTask {
    if (!Number.isFinite(at)) throw new Error(`clock: cannot schedule at ${at}`);
    const task: ClockTask = { at: Math.max(at, this.nowMs), seq: this.seq++, run, cancelled: false };
    this.push(task);
    return task;
  }

  cancel(task: ClockTask | undefined): void {
    if (task) task.cancelled = true;
  }

  /** Time of the earliest pending task, or undefined when nothing is scheduled. */
  nextAt(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Run every task due now (tasks they schedule for now run too). */
  runDue(): void {
    this.runUntil(this.nowMs);
  }

  /**
   * Move time forward by ms, running each task due on the way at its own
   * time, in order. Tasks a task schedules inside the window run as well.
   */
  advance(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new Error(`clock: advance needs a finite ms >= 0, got ${ms}`);
    this.runUntil(this.nowMs + ms);
  }

  private runUntil(target: number): void {
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
      if (!top || top.at > target) break;
      this.pop();
      if (top.at > this.nowMs) this.nowMs = top.at;
      top.run();
    }
    if (target > this.nowMs) this.nowMs = target;
  }

  private dropCancelled(): void {
    while (this.heap.length && this.heap[0].cancelled) this.pop();
  }

  private push(t: ClockTask): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (!h.length) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l], h[m])) m = l;
      if (r < h.length && before(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

function before(a: ClockTask, b: ClockTask): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
