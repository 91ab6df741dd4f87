/**
 * Durable verifications per second on one thread, side by side with the
 * otpauth library verifying the same codes with the same window in memory.
 *
 *   node --import tsx bench/issuer/verify.ts [--sync full|normal] [--cards N] [--presses N] [--rounds N] [--concurrency N]
 *   (pin it to one core with `taskset -c 0` for the one-core figure)
 *
 * Durable: each verification runs the issuer's real path (Issuer.verify: the
 * card under the write lock, the HOTP look-ahead and the audit entry that
 * carries the card's new state) on an SQLite file in WAL mode, and counts
 * only once its promise has resolved: after its transaction committed and,
 * with --sync full, after the WAL holding it was synced to disk. The
 * requests come from `concurrency` clients, each sending its next request
 * when the answer to its last has come, as HTTP clients do.
 *
 * In memory: otpauth's HOTP.validate with window 10 against a counter kept in
 * a JavaScript array (advanced on success), nothing persisted: the baseline
 * a durable issuer is held to. Its default HMAC is node:crypto's createHmac,
 * its fastest configuration in Node.
 *
 * Both verify the same codes: every card's press k before any card's press
 * k+1, so each code is the next one its card expects. One untimed round warms
 * both up; then each round times both sides on that round's codes, in
 * alternating order, and the ratio is taken per round: load from other
 * processes on the machine hits both sides of a ratio alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as OTPAuth from "otpauth";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import { hotp } from "../../firmware/core/otp.ts";
import type { ProvisioningPackage } from "../../host-tools/issuer/card.ts";
import { hmacHash } from "../../host-tools/issuer/hmac-hash.ts";
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
  concurrency: number;
}

export interface Round {
  durablePerSecond: number;
  inMemoryPerSecond: number;
  /** durable / in memory */
  ratio: number;
}

/** One (card, code) per verification. */
interface Attempt {
  card: number;
  code: string;
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
        pkgs.forEach((p, card) => attempts.push({ card, code: hotp(hmacHash(p.algorithm, keys[card]), keys[card], p.counter + k, p.digits) }));
      }
      return attempts;
    };

    const durable = async (attempts: Attempt[]): Promise<number> => {
      let accepted = 0;
      let next = 0;
      // One client: sends its next request once the answer to its last has come.
      const client = async () => {
        while (next < attempts.length) {
          const a = attempts[next++];
          if ((await issuer.verify(pkgs[a.card].cardId, a.code, "bench"))?.ok) accepted++;
        }
      };
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: o.concurrency }, client));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (accepted !== attempts.length) throw new Error(`durable path accepted ${accepted} of ${attempts.length}`);
      return attempts.length / seconds;
    };

    const inMemory = (attempts: Attempt[]): number => {
      let ok = 0;
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

    const warmUp = codesOfRound(0);
    await durable(warmUp);
    inMemory(warmUp);
    const rounds: Round[] = [];
    for (let i = 1; i <= o.rounds; i++) {
      const attempts = codesOfRound(i);
      let d: number, m: number;
      if (i % 2) {
        d = await durable(attempts);
        m = inMemory(attempts);
      } else {
        m = inMemory(attempts);
        d = await durable(attempts);
      }
      const r = { durablePerSecond: d, inMemoryPerSecond: m, ratio: d / m };
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
    concurrency: Number(arg("concurrency", "256")),
  };
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(9);
  console.log(
    `issuer verify bench: ${o.rounds} rounds of ${(o.cards * o.presses).toLocaleString("en-US")} verifications, ` +
      `${o.cards} cards, ${o.concurrency} in flight, SQLite synchronous=${o.sync}`,
  );
  const rounds = await benchVerify(o, (r, i) =>
    console.log(`  round ${i}: durable ${fmt(r.durablePerSecond)} /s   otpauth ${fmt(r.inMemoryPerSecond)} /s   ratio ${r.ratio.toFixed(2)}`),
  );
  const line = (label: string, xs: number[], f: (n: number) => string) => {
    const [med, lo, hi] = spread(xs);
    return `  ${label.padEnd(34)} ${f(med)}   (${f(lo).trim()} – ${f(hi).trim()})`;
  };
  const d = rounds.map((r) => r.durablePerSecond);
  const ratio = spread(rounds.map((r) => r.ratio))[0];
  console.log("median (min – max) over the rounds:");
  console.log(line("durable (SQLite, committed) /s", d, fmt) + `   target >= 20,000/s: ${spread(d)[0] >= 20000 ? "met" : "NOT met"}`);
  console.log(line(`in memory (otpauth, window ${DEFAULT_POLICY.lookAhead}) /s`, rounds.map((r) => r.inMemoryPerSecond), fmt));
  console.log(line("ratio durable / in memory", rounds.map((r) => r.ratio), (n) => n.toFixed(2).padStart(9)) + `   target >= 1: ${ratio >= 1 ? "met" : "NOT met"}`);
}
