/**
 * Live updates for the page as Server-Sent Events: one `state` event with a
 * small snapshot whenever it differs from the last one sent. The snapshot is
 * taken by polling, because the card changes for reasons the server does not
 * drive (code uploaded through the console, timers on the virtual clock), and
 * a snapshot is a few numbers: cheap to take, cheap to compare.
 */
import type { ServerResponse } from "node:http";

export class StateStream<S> {
  private readonly clients = new Set<ServerResponse>();
  private last = "";
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly snapshot: () => S,
    private readonly intervalMs = 50,
  ) {}

  /** Take over a response as an event stream; the current state is sent at once. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    res.write(`retry: 1000\nevent: state\ndata: ${this.current()}\n\n`);
    this.clients.add(res);
    res.on("close", () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopPolling();
    });
    this.timer ??= setInterval(() => this.poll(), this.intervalMs);
  }

  /** Send the state now if it changed (after an API call, so the page need not wait for the poll). */
  poll(): void {
    if (this.clients.size === 0) return;
    const prev = this.last;
    const now = this.current();
    if (now === prev) return;
    for (const res of this.clients) res.write(`event: state\ndata: ${now}\n\n`);
  }

  close(): void {
    this.stopPolling();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private current(): string {
    this.last = JSON.stringify(this.snapshot());
    return this.last;
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
