/**
 * The card's AEAD, measured (issue 11: opening a 160-byte frame must take
 * under 300 ms on the card, and the link's code must fit the card's flash).
 *
 *   npx tsx bench/aead.ts [--ms N]   (host timing per subject, default 1000)
 *
 * 1. On the Espruino interpreter at card speed ($ESPRUINO, else
 *    ../shared/espruino/espruino-2630: the i386 build under qemu), the program
 *    bench/aead/on-card.ts built as the card builds it and run from Storage:
 *    per round, one HOTP-SHA1 code through core/otp.ts on the native hash (the
 *    baseline: what a press already costs), opening and sealing a 160-byte
 *    frame (14-byte header as associated data, 130-byte body, 16-byte tag)
 *    with the card's AEAD (core/aead.ts, inkcard/etm/v1 over the native
 *    SHA-256), opening it with the measured alternative (ChaCha20-Poly1305 in
 *    JavaScript, bench/aead/chacha20poly1305.ts), opening a largest payment
 *    (its 223-byte phone frame, then the 193-byte issuer envelope inside),
 *    and the payment's OCRA answer (challenge and response). The sealed
 *    frames are first checked against independent implementations
 *    (test/core/etm-reference.ts on node:crypto; @noble/ciphers). Reported:
 *    median and best ms per operation, and the median of the per-round
 *    ratios to the HOTP of the same round.
 * 2. On this host, 160-byte frames sealed and opened per second on one
 *    thread: core/aead.ts over node:crypto's one-shot hash (the issuer's) and
 *    over @noble/hashes (the phone relay's), against the reference on
 *    node:crypto's HMAC and node:crypto's own ChaCha20-Poly1305.
 * Keys and data are fixed bytes: nothing secret is printed.
 */
import { createCipheriv } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { chacha20poly1305 as noble } from "@noble/ciphers/chacha.js";
import { etmAead } from "../firmware/core/aead.ts";
import { fastHash } from "../host-tools/issuer/fast-hash.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";
import { ESPRUINO, haveEspruino } from "../host-tools/lib/interpreter.ts";
import { bundleForCard, runFromStorage } from "../test/card/bundle.ts";
import { refOpen, refSeal } from "../test/core/etm-reference.ts";

/** The inputs on-card.ts makes (filled(n, a, b)[i] = (a*i + b) & 255). */
function filled(n: number, a: number, b: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (a * i + b) & 255);
}
const key = filled(32, 7, 1), nonce = filled(12, 3, 5), aad = filled(14, 11, 2), body = filled(130, 5, 9);

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

export async function cardBench(): Promise<string[]> {
  if (!haveEspruino()) return [`(no Espruino interpreter at ${ESPRUINO}: the card part is not measured)`];
  const code = await bundleForCard(new URL("./aead/on-card.ts", import.meta.url).pathname);
  const out = await runFromStorage(code, /\ndone\n/, 600_000);
  const lines = out.split("\n");
  const sealed = (name: string) => lines.find((l) => l.includes(`sealed ${name} `))?.split(" ").pop();
  if (sealed("etm") !== Buffer.from(refSeal(key, nonce, aad, body)).toString("hex")) throw new Error("the card's AEAD frame differs from the reference's (node:crypto)");
  if (sealed("chacha20poly1305") !== Buffer.from(noble(key, nonce, aad).encrypt(body)).toString("hex")) {
    throw new Error("the alternative's ChaCha20-Poly1305 frame differs from @noble/ciphers'");
  }

  const ops = ["hotp", "open-etm", "seal-etm", "open-chacha20poly1305", "open-largest-payment", "answer-ocra"];
  const ms: Record<string, number[]> = {};
  for (const op of ops) ms[op] = lines.filter((l) => l.startsWith(op + " ")).map((l) => Number(l.split(" ")[1]));
  const rounds = ms.hotp.length;
  for (const op of ops) if (ms[op].length !== rounds) throw new Error(`${op}: ${ms[op].length} timings for ${rounds} rounds`);
  for (const l of lines.filter((x) => /^open-/.test(x))) if (/ -1$/.test(l)) throw new Error(`a frame did not open: ${l}`);
  const report = [
    `Espruino interpreter (${ESPRUINO}), ${rounds} rounds, 160-byte frame (14 aad + 130 body + 16 tag)`,
    // Other processes only ever add time: read the figures with the machine's load beside them.
    `load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} on ${cpus().length} CPUs`,
    `                         ms: median    best   x HOTP (median of per-round ratios)`,
  ];
  for (const op of ops) {
    const ratio = median(ms[op].map((v, r) => v / ms.hotp[r]));
    report.push(`${op.padEnd(24)} ${median(ms[op]).toFixed(1).padStart(10)} ${Math.min(...ms[op]).toFixed(1).padStart(7)} ${ratio.toFixed(2).padStart(10)}`);
  }
  // Best: other processes only ever add time, so it is the closest to the machine's own speed.
  const etm = ms["open-etm"];
  report.push(
    `open, the card's AEAD: best ${Math.min(...etm).toFixed(0)} ms, median ${median(etm).toFixed(0)} ms, of the 300 ms budget; ` +
      `ChaCha20-Poly1305 in JavaScript takes ${(Math.min(...ms["open-chacha20poly1305"]) / Math.min(...etm)).toFixed(2)}x its time (best to best)`,
  );
  return report;
}

/** Operations per second of f over about `ms` milliseconds (after a warm-up). */
function perSecond(f: () => void, ms: number): number {
  for (let i = 0; i < 200; i++) f();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 100; i++) f();
    n += 100;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

export function hostBench(ms: number): string[] {
  const issuer = etmAead(fastHash("SHA256"));
  const phone = etmAead(nodeHash("SHA256"));
  const frame = issuer.seal(key, nonce, aad, body);
  if (Buffer.compare(Buffer.from(frame), Buffer.from(refSeal(key, nonce, aad, body))) || Buffer.compare(Buffer.from(frame), Buffer.from(phone.seal(key, nonce, aad, body)))) {
    throw new Error("the implementations disagree");
  }
  const nodeChacha = () => {
    const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: body.length });
    return Buffer.concat([c.update(body), c.final(), c.getAuthTag()]);
  };
  const subjects: Array<[string, () => unknown, () => unknown]> = [
    ["core/aead.ts, node:crypto hash", () => issuer.seal(key, nonce, aad, body), () => issuer.open(key, nonce, aad, frame)],
    ["core/aead.ts, @noble/hashes", () => phone.seal(key, nonce, aad, body), () => phone.open(key, nonce, aad, frame)],
    ["reference, node:crypto HMAC", () => refSeal(key, nonce, aad, body), () => refOpen(key, nonce, aad, frame)],
    ["node:crypto ChaCha20-Poly1305", nodeChacha, nodeChacha],
  ];
  const rows = subjects.map(([name, s, o]) => ({ name, seal: perSecond(s as () => void, ms), open: perSecond(o as () => void, ms) }));
  const base = rows[3];
  return [
    `Host (${process.version}, one thread), 160-byte frames per second (ChaCha20-Poly1305's open timed as its seal)`,
    `                                    seal/s      open/s   x node:crypto ChaCha20-Poly1305 (seal, open)`,
    ...rows.map((r) => `${r.name.padEnd(32)} ${r.seal.toFixed(0).padStart(9)} ${r.open.toFixed(0).padStart(11)} ${(r.seal / base.seal).toFixed(3).padStart(10)} ${(r.open / base.open).toFixed(3).padStart(7)}`),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--ms");
  const ms = i > 0 ? Number(process.argv[i + 1]) : 1000;
  for (const l of hostBench(ms)) console.log(l);
  console.log("");
  for (const l of await cardBench()) console.log(l);
}
