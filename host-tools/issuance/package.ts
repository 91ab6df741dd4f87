/**
 * From the issuer's provisioning package to the bytes a card stores: the one
 * place both sides compute them, so the issuer can check the digest a card
 * reports against what it issued, and the tool writes exactly that.
 */
import { createHmac } from "node:crypto";
import { bytesToHex, hexToBytes } from "../../firmware/core/bytes.ts";
import { encodeProfile, type Profile } from "../../firmware/core/profile.ts";
import { nodeHash } from "../lib/hash.ts";
import type { ProvisioningPackage } from "./protocol.ts";

/** The caption beside the code (at most 12 characters): the PAN's last four, as cards print them. */
export function captionOf(pan: string): string {
  if (!/^[0-9]{12,19}$/.test(pan)) throw new Error("a PAN is 12 to 19 digits");
  return `**** ${pan.slice(-4)}`;
}

export interface ProfileRecord {
  /** The profile file (firmware/core/profile.ts): holds the key, wipe it after use. */
  record: Uint8Array;
  /** Its SHA-256 digest, hex: not secret, what the card reports back. */
  digest: string;
}

export function profileOf(pkg: ProvisioningPackage, caption: string): Profile {
  return {
    mode: pkg.mode,
    algorithm: pkg.algorithm,
    digits: pkg.digits,
    stepSeconds: pkg.step,
    startCounter: pkg.counter,
    cardId: caption,
    key: hexToBytes(pkg.key),
  };
}

export function profileRecord(pkg: ProvisioningPackage, caption: string): ProfileRecord {
  const profile = profileOf(pkg, caption);
  try {
    const record = encodeProfile(profile, nodeHash("SHA256"));
    return { record, digest: bytesToHex(record.subarray(record.length - 36, record.length - 4)) };
  } finally {
    profile.key.fill(0);
  }
}

/**
 * The card's console password (what E.setPassword takes: at most 20
 * characters): 80 bits derived from the card's key, so the issuer can give it
 * again for a reissue without storing it, and no two cards share one.
 */
export function consolePassword(cardKey: Uint8Array): string {
  return createHmac("sha256", cardKey).update("inkcard console password v1").digest("hex").slice(0, 20);
}
