/**
 * The card data that feeds the key derivation: a PAN under a test BIN with a
 * Luhn check digit, an expiry and a PAN sequence number.
 */
import { randomInt } from "node:crypto";
import { checkCard, type CardData } from "../../firmware/core/dcvv.ts";

/**
 * The default BIN: the prefix of the best-known public test card number
 * (4242 4242 4242 4242). Issuing on a real range is a deployment setting.
 */
export const TEST_BIN = "424242";
export const PAN_LENGTH = 16;
/** Cards are valid for four years from issuance. */
const VALID_YEARS = 4;

/** The Luhn (ISO/IEC 7812-1) check digit for a PAN without it. */
export function luhnCheckDigit(body: string): string {
  let sum = 0;
  for (let i = body.length - 1, dbl = true; i >= 0; i--, dbl = !dbl) {
    let d = body.charCodeAt(i) - 48;
    if (dbl && (d *= 2) > 9) d -= 9;
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** A fresh card: random account number under `bin`, expiry VALID_YEARS after `nowMs`, PSN 00. */
export function newCardData(nowMs: number, bin = TEST_BIN): CardData {
  if (!/^[0-9]{6,8}$/.test(bin)) throw new Error("BIN must be 6 to 8 digits");
  let body = bin;
  while (body.length < PAN_LENGTH - 1) body += String(randomInt(10));
  const now = new Date(nowMs);
  const yy = String((now.getUTCFullYear() + VALID_YEARS) % 100).padStart(2, "0");
  const mm = String(now.getUTCMonth() + 1).padStart(2, "0");
  const card = { pan: body + luhnCheckDigit(body), expiry: yy + mm, psn: "00" };
  checkCard(card);
  return card;
}
