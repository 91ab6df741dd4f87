/**
 * The issuer before and after a change, alternating in one process: the
 * durable verify bench (verify.ts) and the HTTP bench (http.ts) of another
 * tree (the code before, e.g. `git archive HEAD | tar -x -C /tmp/before`,
 * with node_modules linked in) and of this one, in pairs, first or second in
 * turn; per pair the ratio after/before, then the median and the range. A
 * shared machine moves single rounds by up to 1.7x: only the pairs' median
 * compares.
 *
 *   taskset -c 1 node --import tsx bench/issuer/ab.ts --before /tmp/before [--pairs 12] [--sync full|normal]
 *   node --import tsx bench/issuer/ab.ts --before /tmp/before --http [--pairs 8]
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const beforeDir = arg("before");
if (!beforeDir) throw new Error("--before DIR: a tree with the code before the change");
const pairs = Number(arg("pairs", process.argv.includes("--http") ? "8" : "12"));
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = new Map<string, number[]>();
const add = (k: string, v: number) => rows.set(k, [...(rows.get(k) ?? []), v]);
const load = (dir: string, file: string) => import(pathToFileURL(resolve(dir, file)).href);

if (process.argv.includes("--http")) {
  const sides = { before: (await load(beforeDir, "bench/issuer/http.ts")).benchHttp, after: (await import("./http.ts")).benchHttp };
  const o = { seconds: 10, connections: 64, cards: 1024, logLevel: "info" };
  for (let i = 0; i < pairs; i++) {
    const got: Record<string, { perSecond: number }> = {};
    for (const side of i % 2 ? (["after", "before"] as const) : (["before", "after"] as const)) got[side] = await sides[side](o);
    add("HTTP after/before", got.after.perSecond / got.before.perSecond);
    add("HTTP before /s", got.before.perSecond);
    add("HTTP after /s", got.after.perSecond);
  }
} else {
  type Bench = typeof import("./verify.ts").benchVerify;
  const sides: Record<"before" | "after", Bench> = { before: (await load(beforeDir, "bench/issuer/verify.ts")).benchVerify, after: (await import("./verify.ts")).benchVerify };
  const o = { sync: (arg("sync", "full") === "normal" ? "NORMAL" : "FULL") as "FULL" | "NORMAL", cards: 1000, presses: 100, rounds: 2, inFlight: [256, 1024] };
  for (let i = 0; i < pairs; i++) {
    const got = {} as Record<"before" | "after", Awaited<ReturnType<Bench>>>;
    for (const side of i % 2 ? (["after", "before"] as const) : (["before", "after"] as const)) got[side] = await sides[side](o);
    o.inFlight.forEach((n, lvl) => {
      const rate = (s: "before" | "after") => med(got[s].map((r) => r.durable[lvl].perSecond));
      const cpu = (s: "before" | "after") => med(got[s].map((r) => r.durable[lvl].busy / r.durable[lvl].perSecond));
      add(`durable ${n} in flight, after/before`, rate("after") / rate("before"));
      add(`CPU per verification ${n}, after/before`, cpu("after") / cpu("before"));
    });
  }
}
for (const [k, v] of rows) console.log(`${k.padEnd(42)} median ${med(v).toFixed(3)}   range ${Math.min(...v).toFixed(3)} – ${Math.max(...v).toFixed(3)}   (${v.length} pairs)`);
