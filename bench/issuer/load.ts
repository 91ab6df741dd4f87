/**
 * The load generator of bench/issuer/http.ts, run as its own process:
 * autocannon POSTs verify requests over keep-alive connections on loopback.
 * Each card's codes are sent in press order, so every verification is a
 * genuine acceptance.
 *
 *   node --import tsx bench/issuer/load.ts PLAN.json   ->  one JSON line of results on stdout
 */
import autocannon from "autocannon";
import { readFileSync } from "node:fs";

export interface LoadPlan {
  url: string;
  token: string;
  connections: number;
  seconds: number;
  /** Each card's codes in press order. */
  cards: { id: string; codes: string[] }[];
}

export interface LoadResult {
  requests: number;
  perSecond: number;
  accepted: number;
  non2xx: number;
  errors: number;
  latencyP50ms: number;
  latencyP99ms: number;
}

const plan = JSON.parse(readFileSync(process.argv[2], "utf8")) as LoadPlan;
const headers = { authorization: `Bearer ${plan.token}`, "content-type": "application/json" };

/**
 * Cards not in flight, with their next press. A request takes one, its
 * response gives it back: a card never has two requests in flight, so its
 * codes arrive in press order whichever connection carries them. (autocannon
 * resets the per-connection context after each request, but keeps it from a
 * request to its response.)
 */
const free = plan.cards.map((card) => ({ card, press: 0 }));
let accepted = 0;

interface InFlight {
  slot?: (typeof free)[number];
}

const result = await autocannon({
  url: plan.url,
  connections: plan.connections,
  duration: plan.seconds,
  requests: [
    {
      method: "POST",
      setupRequest(req: Record<string, unknown>, context: never) {
        const slot = free.shift();
        if (!slot) throw new Error("more connections than cards");
        if (slot.press >= slot.card.codes.length) throw new Error("the plan ran out of codes: give it more presses");
        (context as InFlight).slot = slot;
        return { ...req, path: `/v1/cards/${slot.card.id}/verify`, headers, body: `{"code":"${slot.card.codes[slot.press]}"}` };
      },
      onResponse(status: number, body: string, context: never) {
        const slot = (context as InFlight).slot!;
        slot.press++;
        free.push(slot);
        if (status === 200 && body.startsWith('{"ok":true')) accepted++;
      },
    },
  ],
});

const out: LoadResult = {
  requests: result.requests.total,
  perSecond: result.requests.total / plan.seconds,
  accepted,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
  latencyP50ms: result.latency.p50,
  latencyP99ms: result.latency.p99,
};
process.stdout.write(JSON.stringify(out) + "\n");
