/**
 * Nanoseconds per HOTP-SHA1 (6 digits, 20-byte key) on one thread, three ways:
 *   issuer   the issuer's card codes (host-tools/issuer/card-codes.ts), the
 *            generator made once, as service.ts does for a card's look-ahead
 *   otpauth  otpauth's HOTP.generate (node:crypto createHmac): the baseline
 *   noble    core hotp over host-tools/lib/hash.ts (@noble/hashes), as the tools use
 *
 *   taskset -c 0 node --import tsx bench/hotp.ts [--rounds N] [--count N]
 *
 * All three must give the same codes first (checked on a sample of counters).
 * One untimed round warms up; each timed round then runs the three in a
 * rotated order over `count` consecutive counters. Reported: the best round
 * (load from elsewhere only ever adds time, so it is the closest to the
 * machine's own speed) and the median, and against otpauth the ratio of the
 * bests and the median of the per-round ratios. The key is random and never
 * printed.
 */
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import * as OTPAuth from "otpauth";
import { hotp } from "../firmware/core/otp.ts";
import { cardCodes } from "../host-tools/issuer/card-codes.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";

const DIGITS = 6;

interface Subject {
  name: string;
  code(counter: number): string;
}

function subjects(key: Uint8Array): Subject[] {
  const issuer = cardCodes("SHA1", key, DIGITS);
  const noble = nodeHash("SHA1");
  const secret = new OTPAuth.Secret({ buffer: key.slice().buffer });
  return [
    { name: "issuer", code: issuer },
    { name: "otpauth", code: (c) => OTPAuth.HOTP.generate({ secret, counter: c, digits: DIGITS, algorithm: "SHA1" }) },
    { name: "noble", code: (c) => hotp(noble, key, c, DIGITS) },
  ];
}

/** ns per code over counters from..from+count-1; the codes feed a checksum so none is optimised away. */
function time(s: Subject, from: number, count: number, sink: { n: number }): number {
  const t0 = process.hrtime.bigint();
  for (let c = from; c < from + count; c++) sink.n += s.code(c).charCodeAt(DIGITS - 1);
  return Number(process.hrtime.bigint() - t0) / count;
}

export function runHotpBench(rounds: number, count: number): string[] {
  const key = new Uint8Array(randomBytes(20));
  const subs = subjects(key);
  // Same answers, or the timings compare different work. Counters cross 2^32.
  for (const c of [0, 1, 9, 255, 256, 65535, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, 2 ** 53 - 1]) {
    const want = subs[1].code(c);
    for (const s of subs) if (s.code(c) !== want) throw new Error(`${s.name} disagrees with otpauth at counter ${c}`);
  }
  const sink = { n: 0 };
  for (const s of subs) time(s, 0, count, sink); // warm-up, untimed
  const ns: Record<string, number[]> = {};
  for (const s of subs) ns[s.name] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < subs.length; i++) {
      const s = subs[(r + i) % subs.length];
      ns[s.name].push(time(s, (r + 1) * count, count, sink));
    }
  }
  const base = ns.otpauth;
  const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const best = (xs: number[]) => Math.min(...xs);
  const lines = [
    `HOTP-SHA1, ${DIGITS} digits, ${count} codes per subject per round, ${rounds} rounds (checksum ${sink.n % 1000})`,
    `          ns/HOTP: best  median   x otpauth: best  median (of per-round ratios)`,
  ];
  for (const s of subs) {
    const v = ns[s.name];
    const ratios = v.map((x, r) => x / base[r]);
    lines.push(
      `${s.name.padEnd(8)} ${best(v).toFixed(0).padStart(14)} ${median(v).toFixed(0).padStart(7)}` +
        `${(best(v) / best(base)).toFixed(3).padStart(18)} ${median(ratios).toFixed(3).padStart(7)}`,
    );
  }
  return lines;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(runHotpBench(arg("--rounds", 11), arg("--count", 100_000)).join("\n"));
}
