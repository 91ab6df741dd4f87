/**
 * The simulator's demo card, made the way issuance makes a card: the
 * embedded issuer creates it through its real HTTP API (POST /v1/cards), and
 * its profile is written to the card through the card's serial console, the
 * line a provisioning station uses. Then the card is reset so it boots into
 * its issued state. Nothing secret is printed: the key crosses the console
 * inside a no-echo (DLE) line and the check reads back a SHA-256 only.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { hexToBytes } from "../firmware/core/bytes.ts";
import { encodeProfile, type Profile } from "../firmware/core/profile.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";
import { maskPan } from "../host-tools/issuer/card.ts";
import { createCard, type CardView, type ProvisioningPackage } from "../host-tools/issuer/index.ts";

export interface DemoCardOptions {
  /** The issuer's base URL and an API token for it. */
  issuer: string;
  token: string;
  /** The card's console, "tcp://127.0.0.1:N". */
  console: string;
  /** Storage file of the profile (espruino.config.js storage.profile). */
  profileFile: string;
  /** Code length, 3..10. */
  digits: number;
}

export interface DemoCard {
  /** The card's id at the issuer. */
  id: string;
  /** The issuer's view of it (PAN masked, no secrets). */
  view: CardView;
}

/** How long the card may take to answer on its console. */
const ANSWER_TIMEOUT_MS = 5000;

export async function issueDemoCard(o: DemoCardOptions): Promise<DemoCard> {
  const issued = await createCard(o.issuer, o.token, { mode: "counter", digits: o.digits, algorithm: "SHA1" });
  const profile = profileOf(issued.package, issued.card.pan);
  const record = encodeProfile(profile, nodeHash("SHA256"));
  profile.key.fill(0);
  const digest = createHash("sha256").update(record).digest("hex");

  const con = await openConsole(o.console);
  try {
    const file = JSON.stringify(o.profileFile);
    // One line: the file is created whole at offset 0, so a cut leaves either the old state or
    // a record whose digest fails (the card then shows "not issued", never a code).
    con.send(`\x10require("Storage").write(${file},new Uint8Array([${record.join(",")}]));\n`);
    record.fill(0);
    con.send(
      `\x10var h=new Uint8Array(require("crypto").SHA256(require("Storage").read(${file}))),s="";` +
        `for(var i=0;i<h.length;i++)s+=(h[i]+256).toString(16).substr(1);print("<<"+s+">>");h=s=i=undefined;\n`,
    );
    const answer = await con.expect(/<<([0-9a-f]{64})>>/);
    if (answer[1] !== digest) throw new Error("the profile read back from the card differs from what was written");
    // Boot again from flash, as a card does once issuance is complete; the marker says it has.
    con.send('\x10load()\n\x10print("<<booted>>")\n');
    await con.expect(/<<booted>>/);
  } finally {
    con.close();
  }
  // The issuance answer carries the full PAN (for embossing); nothing here needs it past the caption.
  return { id: issued.card.id, view: { ...issued.card, pan: maskPan(issued.card.pan) } };
}

/** The card's profile for an issuer's provisioning package (docs/simulator.md, demo card). */
export function profileOf(pkg: ProvisioningPackage, pan: string): Profile {
  return {
    mode: pkg.mode,
    algorithm: pkg.algorithm,
    digits: pkg.digits,
    stepSeconds: pkg.step,
    startCounter: pkg.counter,
    // The card shows at most 16 characters beside the code: the PAN's last four, as cards print them.
    cardId: `**** ${pan.slice(-4)}`,
    key: hexToBytes(pkg.key),
  };
}

interface ConsoleLink {
  send(text: string): void;
  expect(pattern: RegExp): Promise<RegExpMatchArray>;
  close(): void;
}

async function openConsole(url: string): Promise<ConsoleLink> {
  const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(url);
  if (!m) throw new Error(`console must be tcp://127.0.0.1:PORT, got ${url}`);
  const socket = net.connect(Number(m[1]), "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let seen = "";
  socket.on("data", (d: Buffer) => (seen += d.toString("latin1")));
  return {
    send: (text) => void socket.write(Buffer.from(text, "latin1")),
    expect: (pattern) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + ANSWER_TIMEOUT_MS;
        const check = () => {
          const found = seen.match(pattern);
          if (found) return resolve(found);
          if (/Uncaught/.test(seen)) return reject(new Error(`the card refused the profile: ${firstLine(seen, "Uncaught")}`));
          if (Date.now() > deadline || socket.destroyed) return reject(new Error("the card did not answer on its console"));
          setTimeout(check, 5);
        };
        check();
      }),
    close: () => socket.end(),
  };
}

function firstLine(text: string, from: string): string {
  return text.slice(text.indexOf(from)).split(/\r?\n/)[0]!;
}
