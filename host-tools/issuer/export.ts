/**
 * `inkcard issuer export --format pskc|otpauth --out FILE`: the issued cards,
 * for import into another validation server.
 *
 * - pskc: RFC 6030 Portable Symmetric Key Container. Each key is encrypted
 *   with a pre-shared transport key (section 6.1: AES-128-CBC, a random IV
 *   before the ciphertext) and carries a ValueMAC (HMAC-SHA256 over IV and
 *   ciphertext) under a random MAC key, itself encrypted with the transport
 *   key. The counter is the issuer's next expected one.
 * - otpauth: one Key URI per line (otpauth://hotp|totp/...), the format
 *   authenticator apps and many servers read. The key is in the clear (base32):
 *   treat the file as the keys themselves.
 *
 * Either way the file is created new, mode 0600, never printed.
 */
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import type { Algorithm, Mode } from "./card.ts";

export interface ExportCard {
  cardId: string;
  chipSerial: string;
  mode: Mode;
  algorithm: Algorithm;
  digits: number;
  /** Time mode: seconds per code. */
  step: number;
  /** Counter mode: the next counter the issuer expects. */
  counter: number;
  key: Uint8Array;
}

export const PSKC_NS = "urn:ietf:params:xml:ns:keyprov:pskc";
const AES_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
const HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
export const ISSUER_NAME = "inkcard";

/** AES-128-CBC with a random IV, IV first (RFC 6030 6.1.1). */
function encrypt(key: Uint8Array, plain: Uint8Array): Buffer {
  const iv = randomBytes(16);
  const c = createCipheriv("aes-128-cbc", key, iv);
  return Buffer.concat([iv, c.update(plain), c.final()]);
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function toPskc(cards: ExportCard[], transportKey: Uint8Array, keyName: string): string {
  if (!(transportKey instanceof Uint8Array) || transportKey.length !== 16) throw new Error("the PSKC transport key must be 16 bytes (AES-128)");
  const macKey = randomBytes(32);
  const encrypted = (value: Uint8Array) => `<xenc:EncryptionMethod Algorithm="${AES_CBC}"/>
            <xenc:CipherData><xenc:CipherValue>${encrypt(transportKey, value).toString("base64")}</xenc:CipherValue></xenc:CipherData>`;
  const packages = cards.map((c) => {
    const cipher = encrypt(transportKey, c.key);
    const mac = createHmac("sha256", macKey).update(cipher).digest("base64");
    const algorithm = c.mode === "counter" ? `${PSKC_NS}:hotp` : `${PSKC_NS}:totp`;
    const suite = c.algorithm === "SHA1" ? "" : `\n        <Suite>HMAC-${c.algorithm}</Suite>`;
    const moving = c.mode === "counter" ? `<Counter><PlainValue>${c.counter}</PlainValue></Counter>` : `<TimeInterval><PlainValue>${c.step}</PlainValue></TimeInterval>`;
    return `  <KeyPackage>
    <DeviceInfo><Manufacturer>${ISSUER_NAME}</Manufacturer><SerialNo>${xml(c.chipSerial)}</SerialNo></DeviceInfo>
    <Key Id="${xml(c.cardId)}" Algorithm="${algorithm}">
      <Issuer>${ISSUER_NAME}</Issuer>
      <AlgorithmParameters>${suite}
        <ResponseFormat Length="${c.digits}" Encoding="DECIMAL"/>
      </AlgorithmParameters>
      <Data>
        <Secret>
          <EncryptedValue>
            <xenc:EncryptionMethod Algorithm="${AES_CBC}"/>
            <xenc:CipherData><xenc:CipherValue>${cipher.toString("base64")}</xenc:CipherValue></xenc:CipherData>
          </EncryptedValue>
          <ValueMAC>${mac}</ValueMAC>
        </Secret>
        ${moving}
      </Data>
    </Key>
  </KeyPackage>`;
  });
  const out = `<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="${PSKC_NS}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">
  <EncryptionKey><ds:KeyName>${xml(keyName)}</ds:KeyName></EncryptionKey>
  <MACMethod Algorithm="${HMAC_SHA256}">
    <MACKey>
            ${encrypted(macKey)}
    </MACKey>
  </MACMethod>
${packages.join("\n")}
</KeyContainer>
`;
  macKey.fill(0);
  return out;
}

/** RFC 4648 base32, no padding (what Key URIs use). */
export function base32(bytes: Uint8Array): string {
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) out += A[(acc >>> (bits -= 5)) & 31];
    acc &= (1 << bits) - 1;
  }
  return bits ? out + A[(acc << (5 - bits)) & 31] : out;
}

export function toOtpauth(cards: ExportCard[]): string {
  return cards
    .map((c) => {
      const type = c.mode === "counter" ? "hotp" : "totp";
      const q = new URLSearchParams({ secret: base32(c.key), issuer: ISSUER_NAME, algorithm: c.algorithm, digits: String(c.digits) });
      q.set(c.mode === "counter" ? "counter" : "period", String(c.mode === "counter" ? c.counter : c.step));
      return `otpauth://${type}/${encodeURIComponent(ISSUER_NAME)}:${encodeURIComponent(c.cardId)}?${q}`;
    })
    .map((l) => l + "\n")
    .join("");
}

interface ExportFlags {
  format: string;
  out?: string;
  transportKeyFile?: string;
  keyName: string;
}

/** `inkcard issuer export`, under the issuer command (its --db, --master-key-file, --dev). */
export function registerExport(issuer: Command): void {
  issuer
    .command("export")
    .description("write the issued cards' keys for another validation server: PSKC (RFC 6030, keys encrypted) or otpauth:// URIs")
    .requiredOption("--format <pskc|otpauth>", "pskc (keys AES-128-CBC encrypted with --transport-key-file) or otpauth (keys in the clear)")
    .requiredOption("--out <file>", "file to create (mode 0600; an existing file is never overwritten)")
    .option("--transport-key-file <file>", "pskc: the pre-shared transport key, 32 hex characters (AES-128), mode 0600")
    .option("--key-name <name>", "pskc: the name the receiver knows the transport key by", "Pre-shared-key")
    .addHelpText("after", "\nNeeds the issuer's --db and master key, e.g. inkcard issuer export --db issuer.sqlite --format pskc --transport-key-file t.key --out cards.pskc")
    .action(async (f: ExportFlags, cmd: Command) => {
      const fail = (msg: string) => {
        console.error(`inkcard issuer export: ${msg}`);
        process.exit(2);
      };
      const g = cmd.optsWithGlobals<{ db?: string; masterKeyFile?: string; dev?: boolean }>();
      if (!g.db) return fail("--db is required (the issuer's SQLite file or postgres:// URL)");
      if (f.format !== "pskc" && f.format !== "otpauth") return fail("--format must be pskc or otpauth");
      if (f.format === "pskc" && !f.transportKeyFile) return fail("pskc needs --transport-key-file (the key the receiving server shares)");
      const { readKeyFile, collect } = await import("./export-data.ts");
      try {
        const transportKey = f.format === "pskc" ? readKeyFile(f.transportKeyFile!, 16, "transport key file") : undefined;
        const cards = await collect(g.db, { file: g.masterKeyFile, dev: g.dev });
        const text = transportKey ? toPskc(cards, transportKey, f.keyName) : toOtpauth(cards);
        for (const c of cards) c.key.fill(0);
        transportKey?.fill(0);
        writeFileSync(f.out!, text, { mode: 0o600, flag: "wx" });
        console.error(`inkcard issuer export: ${cards.length} issued card(s) written to ${f.out} (${f.format})`);
      } catch (e) {
        fail((e as NodeJS.ErrnoException).code === "EEXIST" ? `${f.out} exists: choose a new --out file` : (e as Error).message);
      }
    });
}
