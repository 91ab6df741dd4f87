/**
 * `inkcard issuer export`: the issued cards written as PSKC (RFC 6030, keys
 * under a pre-shared AES-128 transport key with an HMAC-SHA256 ValueMAC) and
 * as otpauth:// Key URIs, each parsed back here and checked against codes
 * the simulated cards show when pressed.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as OTPAuth from "otpauth";
import { base32 } from "../../host-tools/issuer/export.ts";
import { CardConsole } from "../../host-tools/serial/card-console.ts";
import { IssuanceClient, type CardRequest } from "../../host-tools/provision/issuer.ts";
import { Journal } from "../../host-tools/provision/journal.ts";
import { Link } from "../../host-tools/serial/link.ts";
import { provisionCard } from "../../host-tools/provision/provision.ts";
import type { Board } from "../../sim/board/board.ts";
import { bench, pressForCode, type Bench } from "./rig.ts";
import { VERSION as FIRMWARE } from "../../host-tools/lib/version.ts";

const CLI = new URL("../../bin/inkcard.js", import.meta.url).pathname;

function exportCards(b: Bench, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "issuer", "export", "--db", b.db, ...args], { env: { ...process.env, INKCARD_MASTER_KEY: b.masterKeyHex } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The elements named tag (namespace prefix ignored): their text and attributes. */
function elements(xml: string, tag: string): Array<{ text: string; attrs: Record<string, string> }> {
  const re = new RegExp(`<(?:\\w+:)?${tag}((?:\\s+[\\w:]+="[^"]*")*)\\s*(?:/>|>([\\s\\S]*?)</(?:\\w+:)?${tag}>)`, "g");
  return [...xml.matchAll(re)].map((m) => ({
    text: m[2] ?? "",
    attrs: Object.fromEntries([...(m[1] ?? "").matchAll(/([\w:]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])),
  }));
}
const one = (xml: string, tag: string) => {
  const found = elements(xml, tag);
  expect(found, tag).to.have.length(1);
  return found[0];
};

function decrypt(key: Uint8Array, b64: string): Buffer {
  const data = Buffer.from(b64, "base64");
  const d = createDecipheriv("aes-128-cbc", key, data.subarray(0, 16));
  return Buffer.concat([d.update(data.subarray(16)), d.final()]);
}

describe("issuer export (PSKC and otpauth), parsed back", function () {
  this.timeout(60_000);
  let b: Bench;
  let dir: string;
  const cards: Array<{ board: Board; cardId: string; req: CardRequest }> = [];

  before(async () => {
    b = await bench();
    dir = mkdtempSync(join(tmpdir(), "inkcard-export-"));
    for (const req of [{ mode: "counter", digits: 6 }, { mode: "time", digits: 8, algorithm: "SHA256", step: 60 }] as CardRequest[]) {
      const board = b.board();
      b.slot.insert(board);
      const link = await Link.open({ port: b.pty(), baud: 9600 });
      try {
        const done = await provisionCard({
          con: new CardConsole(link),
          issuer: new IssuanceClient(b.issuer.url, b.token),
          firmware: FIRMWARE,
          profileFile: b.config.storage.profile,
          request: req,
          force: false,
          journal: new Journal(join(dir, "j")),
          log: () => {},
        });
        cards.push({ board, cardId: done.cardId, req });
      } finally {
        await link.close();
      }
    }
    // A card made but never proven is not exported.
    await new IssuanceClient(b.issuer.url, b.token).begin({ mode: "counter", chipSerial: "pending-chip-1", firmware: FIRMWARE, force: false });
  });
  after(async () => {
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The card's next code, and whether otp (built from an exported key) gives it. */
  function check(board: Board, otp: OTPAuth.HOTP | OTPAuth.TOTP, counter: number) {
    const code = pressForCode(board)!;
    if (otp instanceof OTPAuth.HOTP) expect(otp.generate({ counter })).to.equal(code);
    else expect(otp.validate({ token: code, window: 1 }), "a TOTP code of the card's clock").to.not.equal(null);
  }

  it("pskc: keys encrypted under the transport key, MACs valid, codes match the cards", async () => {
    const transport = randomBytes(16);
    const keyFile = join(dir, "transport.key");
    writeFileSync(keyFile, transport.toString("hex") + "\n", { mode: 0o600 });
    const out = join(dir, "cards.pskc");
    const run = await exportCards(b, ["--format", "pskc", "--transport-key-file", keyFile, "--key-name", "bank-2026", "--out", out]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal("");
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    const xml = readFileSync(out, "utf8");
    expect(one(xml, "KeyContainer").attrs).to.include({ Version: "1.0", xmlns: "urn:ietf:params:xml:ns:keyprov:pskc" });
    expect(one(xml, "KeyName").text).to.equal("bank-2026");
    const macMethod = one(xml, "MACMethod");
    expect(macMethod.attrs.Algorithm).to.equal("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256");
    const macKey = decrypt(transport, one(macMethod.text, "CipherValue").text);

    const packages = elements(xml, "KeyPackage");
    expect(packages).to.have.length(2);
    for (const [i, p] of packages.entries()) {
      const { board, cardId, req } = cards[i];
      const key = one(p.text, "Key");
      expect(key.attrs.Id).to.equal(cardId);
      expect(one(p.text, "SerialNo").text).to.equal(board.serial);
      expect(one(p.text, "ResponseFormat").attrs).to.deep.equal({ Length: String(req.digits), Encoding: "DECIMAL" });
      const cipher = one(one(p.text, "EncryptedValue").text, "CipherValue").text;
      expect(one(one(p.text, "EncryptedValue").text, "EncryptionMethod").attrs.Algorithm).to.equal("http://www.w3.org/2001/04/xmlenc#aes128-cbc");
      const mac = createHmac("sha256", macKey).update(Buffer.from(cipher, "base64")).digest("base64");
      expect(one(p.text, "ValueMAC").text, "ValueMAC").to.equal(mac);
      const secret = decrypt(transport, cipher);
      expect(xml, "no key in the clear").to.not.include(secret.toString("base64"));
      const algorithm = req.algorithm === "SHA256" ? "SHA-256" : "SHA-1";
      if (req.mode === "counter") {
        expect(key.attrs.Algorithm).to.equal("urn:ietf:params:xml:ns:keyprov:pskc:hotp");
        const counter = Number(one(one(p.text, "Counter").text, "PlainValue").text);
        expect(counter, "the first code was spent proving the card").to.equal(1);
        check(board, new OTPAuth.HOTP({ secret: new OTPAuth.Secret({ buffer: secret.buffer.slice(secret.byteOffset, secret.byteOffset + secret.length) }), algorithm, digits: req.digits }), counter);
      } else {
        expect(key.attrs.Algorithm).to.equal("urn:ietf:params:xml:ns:keyprov:pskc:totp");
        expect(one(p.text, "Suite").text).to.equal("HMAC-SHA256");
        const period = Number(one(one(p.text, "TimeInterval").text, "PlainValue").text);
        expect(period).to.equal(60);
        check(board, new OTPAuth.TOTP({ secret: new OTPAuth.Secret({ buffer: secret.buffer.slice(secret.byteOffset, secret.byteOffset + secret.length) }), algorithm, digits: req.digits, period }), 0);
      }
    }

    // Never over an existing file; a transport key others can read is refused.
    const again = await exportCards(b, ["--format", "pskc", "--transport-key-file", keyFile, "--out", out]);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.match(/exists: choose a new --out file/);
    writeFileSync(join(dir, "open.key"), transport.toString("hex"), { mode: 0o644 });
    const open = await exportCards(b, ["--format", "pskc", "--transport-key-file", join(dir, "open.key"), "--out", join(dir, "x.pskc")]);
    expect(open.stderr).to.match(/readable by others: chmod 600 it/);
    expect(open.stderr).to.not.include(transport.toString("hex"));
  });

  it("otpauth: one Key URI per issued card, parsed by the otpauth package, codes match", async () => {
    const out = join(dir, "cards.txt");
    const run = await exportCards(b, ["--format", "otpauth", "--out", out]);
    expect(run.code, run.stderr).to.equal(0);
    const lines = readFileSync(out, "utf8").trim().split("\n");
    expect(lines).to.have.length(2);
    for (const [i, line] of lines.entries()) {
      const { board, cardId, req } = cards[i];
      const otp = OTPAuth.URI.parse(line);
      expect(otp.issuer).to.equal("inkcard");
      expect(otp.label).to.equal(cardId);
      expect(otp.digits).to.equal(req.digits);
      expect(otp.algorithm).to.equal(req.algorithm === "SHA256" ? "SHA256" : "SHA1");
      if (otp instanceof OTPAuth.HOTP) {
        expect(otp.counter, "the issuer's next counter: the first code proved the card").to.equal(1);
        check(board, otp, 2); // the card was pressed once since, unverified: the server's look-ahead finds it
      } else {
        expect(otp.period).to.equal(60);
        check(board, otp, 0);
      }
    }
  });

  it("base32 as RFC 4648", () => {
    const v = (s: string) => base32(new TextEncoder().encode(s));
    expect(["", "f", "fo", "foo", "foob", "fooba", "foobar"].map(v)).to.deep.equal(["", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"]);
  });
});
