/**
 * The published OTP vectors, one table for every test that checks codes: the
 * source (test/core/otp.test.ts), the built bundle on the emulated board
 * (test/sim/firmware.test.ts) and the issuer (test/issuer).
 */
import type { HashName } from "../firmware/core/types.ts";

const ascii = (s: string) => new Uint8Array(Buffer.from(s, "ascii"));

/** RFC 4226 appendix D: the shared secret. */
export const RFC4226_KEY = ascii("12345678901234567890");

/** RFC 4226 appendix D, counters 0..9: [HMAC-SHA1 of the counter block, 31-bit truncated value, 6-digit HOTP]. */
export const RFC4226: ReadonlyArray<readonly [string, number, string]> = [
  ["cc93cf18508d94934c64b65d8ba7667fb7cde4b0", 1284755224, "755224"],
  ["75a48a19d4cbe100644e8ac1397eea747a2d33ab", 1094287082, "287082"],
  ["0bacb7fa082fef30782211938bc1c5e70416ff44", 137359152, "359152"],
  ["66c28227d03a2d5529262ff016a1e6ef76557ece", 1726969429, "969429"],
  ["a904c900a64b35909874b33e61c5938a8e15ed1c", 1640338314, "338314"],
  ["a37e783d7b7233c083d4f62926c7a25f238d0316", 868254676, "254676"],
  ["bc9cd28561042c83f219324d3c607256c03272ae", 1918287922, "287922"],
  ["a4fb960c0bc06e1eabb804e5b397cdc4b45596fa", 82162583, "162583"],
  ["1b3c89f65e6c9e883012052823443f048b4332db", 673399871, "399871"],
  ["1637409809a679dc698207310c8c7fc07290d9e5", 645520489, "520489"],
];

/**
 * RFC 6238 appendix B: the seed for each hash is the ASCII digits "1234567890"
 * repeated to the hash's output length (20, 32, 64 bytes; the RFC's table names
 * only the 20-byte one, its reference code uses these). Step 30 s, 8 digits.
 */
export const RFC6238_KEYS: Readonly<Record<HashName, Uint8Array>> = {
  SHA1: ascii("12345678901234567890"),
  SHA256: ascii("12345678901234567890123456789012"),
  SHA512: ascii("1234567890123456789012345678901234567890123456789012345678901234"),
};

/** RFC 6238 appendix B: [unix time, time step T, 8-digit code per hash]. */
export const RFC6238: ReadonlyArray<readonly [number, number, Readonly<Record<HashName, string>>]> = [
  [59, 0x1, { SHA1: "94287082", SHA256: "46119246", SHA512: "90693936" }],
  [1111111109, 0x23523ec, { SHA1: "07081804", SHA256: "68084774", SHA512: "25091201" }],
  [1111111111, 0x23523ed, { SHA1: "14050471", SHA256: "67062674", SHA512: "99943326" }],
  [1234567890, 0x273ef07, { SHA1: "89005924", SHA256: "91819424", SHA512: "93441116" }],
  [2000000000, 0x3f940aa, { SHA1: "69279037", SHA256: "90698825", SHA512: "38618901" }],
  [20000000000, 0x27bc86aa, { SHA1: "65353130", SHA256: "77737706", SHA512: "47863826" }],
];
