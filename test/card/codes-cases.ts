/**
 * The cases of test/card/codes-espruino.test.ts, made the same way on the
 * card and in Node: the published vectors (RFC 4226 appendix D, RFC 6238
 * appendix B for SHA-1 and SHA-256, the hashes the MDBT42Q has natively),
 * then random profiles from one seed (test/card/prng.ts). Espruino-safe.
 */
import type { Profile } from "../../firmware/core/profile";
import { xorshift } from "./prng";

export interface CodeCase {
  name: string;
  profile: Profile;
  /** Time mode: the clock at each press. Counter mode: one entry per press (0). */
  times: number[];
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const SEED20 = "12345678901234567890";

/** RFC 4226 appendix D: counters 0..9, 6 digits; RFC 6238 appendix B: six times, 8 digits, step 30. */
export function vectorCases(): CodeCase[] {
  const times = [59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000];
  return [
    {
      name: "rfc4226",
      profile: { mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: "RFC4226", key: ascii(SEED20) },
      times: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    },
    {
      name: "rfc6238-SHA1",
      profile: { mode: "time", algorithm: "SHA1", digits: 8, stepSeconds: 30, startCounter: 0, cardId: "RFC6238", key: ascii(SEED20) },
      times: times,
    },
    {
      name: "rfc6238-SHA256",
      profile: { mode: "time", algorithm: "SHA256", digits: 8, stepSeconds: 30, startCounter: 0, cardId: "RFC6238", key: ascii(SEED20 + SEED20.slice(0, 12)) },
      times: times,
    },
  ];
}

/**
 * count random profiles: SHA-1 or SHA-256, keys of 16..64 bytes, 3..10
 * digits; counter mode starting anywhere up to 2^53 (some just below 2^32,
 * so the presses cross it), or time mode at random times and steps.
 */
export function randomCases(seed: number, count: number): CodeCase[] {
  const r = xorshift(seed);
  const out: CodeCase[] = [];
  for (let k = 0; k < count; k++) {
    const counter = r.int(2) === 0;
    const kind = r.int(3);
    // 2097150 * 2^32 + u32 stays below 2^53 - 2^32 - 1024: room for a counter file's steps.
    const start = kind === 0 ? 4294967294 + r.int(2) : kind === 1 ? r.u32() : r.int(2097150) * 4294967296 + r.u32();
    const times: number[] = [];
    for (let i = 0; i < 2; i++) times.push(counter ? 0 : r.u32() * (r.int(2) ? 1 : 3) + r.int(1000) / 1000);
    out.push({
      name: "random-" + k,
      profile: {
        mode: counter ? "counter" : "time",
        algorithm: r.int(2) ? "SHA1" : "SHA256",
        digits: 3 + r.int(8),
        stepSeconds: 1 + r.int(600),
        startCounter: start,
        cardId: "R" + k,
        key: r.bytes(16 + r.int(49)),
      },
      times: times,
    });
  }
  return out;
}
