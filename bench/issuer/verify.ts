/**
 * Durable verifications per second on one thread, side by side with the
 * otpauth library verifying the same codes with the same window in memory.
 *
 *   node --import tsx bench/issuer/verify.ts [--sync full|normal] [--cards N] [--presses N] [--rounds N] [--in-flight N,N,...]
 *   (pin it to one core with `taskset -c 0` for the one-core figure)
 *
 * Durable: each verification runs the issuer's real path (Issuer.verify: the
 * card under the write lock, the HOTP look-ahead and the audit entry that
 * carries the card's new state) on an SQLite file in WAL mode, and counts
 * only once its promise has resolved: after its transaction committed and,
 * with --sync full, after the WAL holding it was synced to disk. The
 * requests come from N clients, each sending its next request when the
 * answer to its last has come, as HTTP clients do; it is timed at each N of
 * --in-flight (default 256 and 1,024). Every fdatasync costs the core
 * about 0.1 ms and the disk's latency on top, whatever it covers: with 256
 * in flight each covers at most 256 verifications and the core idles while
 * it runs; with more, verifications queue meanwhile and one sync covers
 * more of them. The share of the core the durable side kept busy is printed.
 *
 * In memory: otpauth's HOTP.validate with window 10 against a counter kept in
 * a JavaScript array (advanced on success), nothing persisted: the baseline
 * a durable issuer is held to. Its default HMAC is node:crypto's createHmac,
 * its fastest configuration in Node.
 *
 * Both verify the same codes: every card's press k before any card's press
 * k+1, so each code is the next one its card expects. One untimed round
 * warms both up; then each round times the durable side at each level on
 * codes of its own, and the in-memory side once on all of them, first or
 * last in turn, and the ratio is taken per round: load from other processes
 * on the machine hits both sides of a ratio alike. A full garbage
 * collection before each timing leaves neither side to collect what the
 * bench made before it (the codes, through node:crypto): without it the
 * durable side's rate moved by up to 1.7x with what had run before it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as OTPAuth from "otpauth";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import { hotp } from "../../firmware/core/otp.ts";
import type { ProvisioningPackage } from "../../host-tools/issuer/card.ts";
import { fastHash } from "../../host-tools/issuer/fast-hash.ts";
import { DerivedKeys } from "../../host-tools/issuer/keys.ts";
import { DEFAULT_POLICY } from "../../host-tools/issuer/policy.ts";
import { Issuer } from "../../host-tools/issuer/service.ts";
import { SqliteStore } from "../../host-tools/issuer/store/sqlite.ts";

export interface VerifyBenchOptions {
  sync: "FULL" | "NORMAL";
  cards: number;
  /** Presses per card in each round. */
  presses: number;
  /** Timed rounds, after one untimed warm-up round. */
  rounds: number;
  /** Clients in flight on the durable side: each round times it once per value. */
  inFlight: number[];
}

export interface Durable {
  inFlight: number;
  perSecond: number;
  /** The process's CPU time (all threads) over the wall time: below 1, the core sat idle. */
  busy: number;
  /** perSecond / the round's in-memory rate */
  ratio: number;
}

export interface Round {
  inMemoryPerSecond: number;
  durable: Durable[];
}

/** One (card, code) per verification. */
interface Attempt {
  card: number;
  code: string;
}

/** A full garbage collection (the flag is set here, once, so the bench needs no command-line flag). */
let gc: (() => void) | undefined;
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
}

export async function benchVerify(o: VerifyBenchOptions, onRound: (r: Round, i: number) => void = () => {}): Promise<Round[]> {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-bench-"));
  const store = new SqliteStore(join(dir, "bench.sqlite"), { synchronous: o.sync });
  try {
    await store.migrate();
    const masterKey = Uint8Array.from({ length: 32 }, (_, i) => i); // a bench key, not a real one
    const issuer = new Issuer({ store, keys: new DerivedKeys(masterKey) });
    const pkgs: ProvisioningPackage[] = [];
    for (let i = 0; i < o.cards; i++) pkgs.push((await issuer.createCard({ mode: "counter", digits: 6 }, "bench")).package);
    const keys = pkgs.map((p) => hexToBytes(p.key));
    const secrets = pkgs.map((p) => new OTPAuth.Secret({ buffer: hexToBytes(p.key).buffer as ArrayBuffer }));
    const counters = pkgs.map((p) => p.counter); // otpauth's side: each card's next counter

    const codesOfRound = (round: number): Attempt[] => {
      const attempts: Attempt[] = [];
      for (let k = round * o.presses; k < (round + 1) * o.presses; k++) {
        pkgs.forEach((p, card) => attempts.push({ card, code: hotp(fastHash(p.algorithm), keys[card], p.counter + k, p.digits) }));
      }
      return attempts;
    };

    const durable = async (attempts: Attempt[], inFlight: number): Promise<Omit<Durable, "ratio">> => {
      let accepted = 0;
      let next = 0;
      // One client: sends its next request once the answer to its last has come.
      const client = async () => {
        while (next < attempts.length) {
          const a = attempts[next++];
          if ((await issuer.verify(pkgs[a.card].cardId, a.code, "bench"))?.ok) accepted++;
        }
      };
      collectGarbage();
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: inFlight }, client));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      if (accepted !== attempts.length) throw new Error(`durable path accepted ${accepted} of ${attempts.length}`);
      return { inFlight, perSecond: attempts.length / seconds, busy: (cpu.user + cpu.system) / 1e6 / seconds };
    };

    const inMemory = (attempts: Attempt[]): number => {
      let ok = 0;
      collectGarbage();
      const t0 = process.hrtime.bigint();
      for (const a of attempts) {
        const delta = OTPAuth.HOTP.validate({ token: a.code, secret: secrets[a.card], algorithm: "SHA1", digits: 6, counter: counters[a.card], window: DEFAULT_POLICY.lookAhead });
        if (delta !== null && delta >= 0) {
          counters[a.card] += delta + 1;
          ok++;
        }
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (ok !== attempts.length) throw new Error(`otpauth accepted ${ok} of ${attempts.length}`);
      return attempts.length / seconds;
    };

    // Each durable timing takes the next round of codes: a code is accepted once. The in-memory side,
    // with counters of its own, checks all of a round's codes in one timing.
    const levels = o.inFlight.length;
    const codesOf = (i: number) => Array.from({ length: levels }, (_, l) => codesOfRound(i * levels + l));
    const warmUp = codesOf(0);
    for (let l = 0; l < levels; l++) await durable(warmUp[l], o.inFlight[l]);
    inMemory(warmUp.flat());
    const rounds: Round[] = [];
    for (let i = 1; i <= o.rounds; i++) {
      const codes = codesOf(i);
      const timed: Omit<Durable, "ratio">[] = [];
      // Alternate which side goes first, so that a drift in the machine's speed hits both alike.
      const first = i % 2 ? undefined : inMemory(codes.flat());
      for (let l = 0; l < levels; l++) timed.push(await durable(codes[l], o.inFlight[l]));
      const m = first ?? inMemory(codes.flat());
      const r = { inMemoryPerSecond: m, durable: timed.map((d) => ({ ...d, ratio: d.perSecond / m })) };
      rounds.push(r);
      onRound(r, i);
    }
    return rounds;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** Median, min and max. */
function spread(xs: number[]): [number, number, number] {
  const s = [...xs].sort((a, b) => a - b);
  return [s[s.length >> 1], s[0], s[s.length - 1]];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o: VerifyBenchOptions = {
    sync: arg("sync", "full").toUpperCase() === "NORMAL" ? "NORMAL" : "FULL",
    cards: Number(arg("cards", "1000")),
    presses: Number(arg("presses", "100")),
    rounds: Number(arg("rounds", "5")),
    inFlight: arg("in-flight", "256,1024").split(",").map(Number),
  };
  if (!o.inFlight.every((n) => Number.isInteger(n) && n > 0)) throw new Error("--in-flight takes positive integers, e.g. 256,1024");
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(9);
  console.log(
    `issuer verify bench: ${o.rounds} rounds, each ${(o.cards * o.presses).toLocaleString("en-US")} verifications per side, ` +
      `${o.cards} cards, SQLite synchronous=${o.sync}, durable side with ${o.inFlight.join(" and ")} in flight`,
  );
  const rounds = await benchVerify(o, (r, i) =>
    console.log(
      `  round ${i}: otpauth ${fmt(r.inMemoryPerSecond)} /s` +
        r.durable.map((d) => `   durable(${d.inFlight}) ${fmt(d.perSecond)} /s, core busy ${Math.round(100 * d.busy)}%, ratio ${d.ratio.toFixed(2)}`).join(""),
    ),
  );
  const line = (label: string, xs: number[], f: (n: number) => string) => {
    const [med, lo, hi] = spread(xs);
    return `  ${label.padEnd(40)} ${f(med)}   (${f(lo).trim()} – ${f(hi).trim()})`;
  };
  const ratio = (n: number) => n.toFixed(2).padStart(9);
  console.log("median (min – max) over the rounds:");
  console.log(line(`in memory (otpauth, window ${DEFAULT_POLICY.lookAhead}) /s`, rounds.map((r) => r.inMemoryPerSecond), fmt));
  o.inFlight.forEach((n, l) => {
    const d = rounds.map((r) => r.durable[l]);
    const perSecond = d.map((x) => x.perSecond);
    const ratios = d.map((x) => x.ratio);
    console.log(line(`durable, ${n} in flight /s`, perSecond, fmt) + `   target >= 20,000/s: ${spread(perSecond)[0] >= 20000 ? "met" : "NOT met"}`);
    console.log(line(`  core busy`, d.map((x) => x.busy), (b) => `${Math.round(100 * b)}%`.padStart(9)));
    console.log(line(`  ratio durable / in memory`, ratios, ratio) + `   target >= 1: ${spread(ratios)[0] >= 1 ? "met" : "NOT met"}`);
  });
}
