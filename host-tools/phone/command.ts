/**
 * `inkcard phone pair|pay|apply`: the CLI phone of documents C and A. It
 * asks the issuer for a pairing, a payment or a profile, relays it to the
 * card (relay.ts) over Bluetooth (ble-transport.ts) or the simulator's
 * bridge (--sim), and posts the card's answer to the issuer. And `inkcard
 * verify-card`: a verification device (document A), which needs no pairing.
 * They print outcomes only: never the pair key, the payment's code, the
 * card's answer, a one-time password or a security code.
 *
 * Exit codes: 0 done (paired / payment accepted / profile written / card
 * genuine), 1 error, 3 declined by the holder, 4 expired, 5 the issuer
 * refused the answer (a payment's, or the card's proof for a profile),
 * 6 the card is not genuine (verify-card) or not the one this phone wrote (apply).
 */
import { type Command, InvalidArgumentError } from "commander";

export const EXIT = { OK: 0, ERROR: 1, DECLINED: 3, EXPIRED: 4, REFUSED: 5, NOT_GENUINE: 6 } as const;

interface Link {
  issuer: string;
  tokenFile: string;
  sim?: string;
  mtu?: number;
  passkey?: string;
  verbose?: boolean;
  json?: boolean;
}
interface Common extends Link {
  card: string;
  issuer: string;
  tokenFile: string;
  sim?: string;
  mtu?: number;
  passkey?: string;
  state?: string;
  verbose?: boolean;
}
interface ApplyFlags extends Common {
  slot: number;
  label: string;
  mode: string;
  digits?: number;
  holder?: string;
}
interface VerifyFlags extends Link {
  slot: number;
}
interface PayFlags extends Common {
  amount: string;
  currency: string;
  exponent?: number;
  payee: string;
  details?: string;
  ttl?: number;
}

class PhoneError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.ERROR,
  ) {
    super(message);
  }
}

const int = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
};

function common(c: Command): Command {
  return transport(c.requiredOption("--card <id>", "the issuer's id of the card")).option(
    "--state <file>",
    "the phone's state (device id, pairings, security codes); default $INKCARD_PHONE_STATE or ~/.config/inkcard/phone.json",
  );
}

/** The issuer and the link to the card: what every errand needs, verify-card included. */
function transport(c: Command): Command {
  return c
    .requiredOption("--issuer <url>", "the issuer, e.g. http://127.0.0.1:8470")
    .requiredOption("--token-file <file>", "a file holding the issuer API token")
    .option("--sim <url>", "relay through the simulator (its web address) instead of Bluetooth")
    .option("--mtu <n>", "the ATT MTU: 23 writes 20 bytes, 53 writes 50 (default: 53 with --sim, 23 over Bluetooth)", int(23, 53))
    .option("--passkey <digits>", "the passkey the card shows when the link is paired, if it asks (else it is read from stdin)")
    .option("--verbose", "say each step (never a key or a code)");
}

export function register(program: Command): void {
  const phone = program.command("phone").description("the holder's phone: pair with a card, relay a payment to it (document C)");
  common(phone.command("pair").description("pair this phone with the card: the issuer's grant, relayed to the card")).action((f: Common) => main(() => pair(f)));
  common(
    phone
      .command("pay")
      .description("get a payment from the issuer, relay it to the card, send the card's answer back")
      .requiredOption("--amount <decimal>", "the amount, e.g. 12.34")
      .requiredOption("--currency <code>", "ISO 4217 alphabetic code, e.g. EUR")
      .option("--exponent <n>", "minor-unit digits (default: from the currency, 2 if unknown)", int(0, 4))
      .requiredOption("--payee <text>", "who is paid, as the card shows it")
      .option("--details <text>", "details the card shows")
      .option("--ttl <seconds>", "how long the payment stays valid (issuer default)", int(10, 86400)),
  ).action((f: PayFlags) => main(() => pay(f)));
  common(
    phone
      .command("apply")
      .description("apply for a card profile on a slot of this card: the issuer's two-way check, the profile written, its security code rolled")
      .requiredOption("--slot <n>", "the slot to write, 1..3 (slot 0 is the card's own profile)", int(1, 3))
      .requiredOption("--label <text>", "what the card shows for the profile: 1..12 printable ASCII characters")
      .requiredOption("--mode <mode>", "counter or time")
      .option("--digits <n>", "digits of the profile's codes (issuer default)", int(1, 10))
      .option("--holder <name>", "the holder's name on the profile")
      .option("--json", "print the outcome as one JSON object"),
  ).action((f: ApplyFlags) => main(() => apply(f), f.json));
  transport(
    program
      .command("verify-card")
      .description("a verification device: ask the card in range to prove a slot's security code, and the issuer whether it is genuine (document A)")
      .requiredOption("--slot <n>", "the slot to verify, 1..3", int(1, 3))
      .option("--json", "print the outcome as one JSON object"),
  ).action((f: VerifyFlags) => main(() => verifyCmd(f), f.json));
}

async function main(run: () => Promise<number>, json = false): Promise<void> {
  try {
    process.exitCode = await run();
  } catch (e) {
    const { RelayError } = await import("./relay.ts");
    const code = e instanceof PhoneError ? e.exitCode : EXIT.ERROR;
    const what = e instanceof RelayError ? `${e.message} (${e.code})` : (e as Error).message;
    process.stderr.write(`phone: ${what}\n`);
    if (json) process.stdout.write(JSON.stringify({ ok: false, error: what, exitCode: code }) + "\n");
    process.exitCode = code;
  }
}

async function tools(f: Link & { state?: string }) {
  const { readFileSync } = await import("node:fs");
  const { IssuerClient } = await import("../issuer/client.ts");
  const { FileStore, defaultStatePath } = await import("./state.ts");
  let token: string;
  try {
    token = readFileSync(f.tokenFile, "utf8").trim();
  } catch (e) {
    throw new PhoneError(`cannot read the token file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!token) throw new PhoneError("the token file is empty");
  let base: URL;
  try {
    base = new URL(f.issuer);
  } catch {
    throw new PhoneError("--issuer must be a URL like http://127.0.0.1:8470");
  }
  if (base.username || base.password) throw new PhoneError("--issuer must not carry credentials (use --token-file)");
  const log = f.verbose ? (l: string) => process.stderr.write(`phone: ${l}\n`) : () => {};
  const { personalApi } = await import("./personal-client.ts");
  const issuer = new IssuerClient(base.href.replace(/\/$/, ""), token);
  return { issuer, personal: personalApi(issuer), store: new FileStore(f.state ?? defaultStatePath()), log };
}

/** The link to the card, and a way to make it again (for the relay's reconnects). */
async function link(f: Link, log: (l: string) => void) {
  if (f.sim) {
    const { connectSim } = await import("./sim-transport.ts");
    const mtu = f.mtu ?? 53;
    const opts = { mtu, passkey: () => askPasskey(f) };
    log(`connecting to the simulator's card at MTU ${mtu}`);
    const connect = () => connectSim(f.sim!, opts);
    return { transport: await connect(), reconnect: connect };
  }
  const { WebBluetoothTransport, nodeBluetooth } = await import("./ble-transport.ts");
  const bt = await nodeBluetooth();
  const maxWrite = (f.mtu ?? 23) - 3;
  log("scanning for the card");
  const t = await WebBluetoothTransport.connect(bt, { maxWrite });
  return { transport: t, reconnect: () => WebBluetoothTransport.connect(bt, { maxWrite, device: t.device }) };
}

/**
 * The passkey the card shows: --passkey, else one line typed on a terminal or piped in (a tool
 * that reads the card's screen); a stdin that ends first is an error.
 */
async function askPasskey(f: Link): Promise<string> {
  if (f.passkey) return f.passkey;
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin, output: process.stdin.isTTY ? process.stderr : undefined, terminal: Boolean(process.stdin.isTTY) });
  process.stderr.write("phone: passkey shown on the card: ");
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once("line", (l) => resolve(l.trim()));
      rl.once("close", () => reject(new PhoneError("the card asks for a passkey: pass --passkey or type it on stdin")));
    });
  } finally {
    rl.close();
  }
}

/** The link for flow.ts: the first call connects, each later one reconnects (the relay's reconnects). */
async function connector(f: Link, log: (l: string) => void): Promise<() => Promise<import("./transport.ts").CardTransport>> {
  let made: Awaited<ReturnType<typeof link>> | undefined;
  return async () => {
    if (made) return made.reconnect();
    made = await link(f, log);
    return made.transport;
  };
}

/**
 * flow.ts's refusals (bad input, the wrong card, no pairing) as this
 * command's errors; the issuer's 403 (a wrong response or proof) is a
 * refusal (exit 5), the local proof check's failure a card that is not the
 * one this phone wrote (exit 6).
 */
async function flowing<T>(run: () => Promise<T>): Promise<T> {
  const { FlowError, NOT_MY_CODE } = await import("./flow.ts");
  const { IssuerHttpError } = await import("../issuer/client.ts");
  try {
    return await run();
  } catch (e) {
    if (e instanceof FlowError) throw new PhoneError(e.message, e.message === NOT_MY_CODE ? EXIT.NOT_GENUINE : EXIT.ERROR);
    if (e instanceof IssuerHttpError && e.status === 403) throw new PhoneError(`the issuer refused: ${e.message}`, EXIT.REFUSED);
    if (e instanceof IssuerHttpError && e.status === 410) throw new PhoneError(`the issuer's session expired: ${e.message}; run it again`, EXIT.EXPIRED);
    throw e;
  }
}

async function pair(f: Common): Promise<number> {
  const { pairCard } = await import("./flow.ts");
  const { issuer, store, log } = await tools(f);
  const epoch = await flowing(async () => pairCard({ issuer, store, connect: await connector(f, log), log }, f.card));
  process.stdout.write(`paired with card ${f.card} (epoch ${epoch})\n`);
  return EXIT.OK;
}

async function pay(f: PayFlags): Promise<number> {
  const { payCard } = await import("./flow.ts");
  const { issuer, store, log } = await tools(f);
  const req = { amount: f.amount, currency: f.currency, exponent: f.exponent, payee: f.payee, details: f.details, ttlSeconds: f.ttl };
  const sent = () => process.stderr.write("phone: confirm the payment on the card\n");
  const r = await flowing(async () => payCard({ issuer, store, connect: await connector(f, log), log }, f.card, req, sent));
  if (r.outcome === "declined") {
    process.stdout.write(`payment ${r.paymentId} declined on the card\n`);
    return EXIT.DECLINED;
  }
  if (r.outcome === "expired") {
    process.stdout.write(`payment ${r.paymentId} expired before it was confirmed\n`);
    return EXIT.EXPIRED;
  }
  if (r.outcome === "refused") {
    process.stdout.write(`payment ${r.paymentId} refused by the issuer (${r.reason})\n`);
    return EXIT.REFUSED;
  }
  process.stdout.write(`payment ${r.paymentId} confirmed and accepted\n`);
  return EXIT.OK;
}

async function apply(f: ApplyFlags): Promise<number> {
  const { personaliseCard } = await import("./flow.ts");
  const { personal, store, log } = await tools(f);
  if (f.mode !== "counter" && f.mode !== "time") throw new PhoneError(`--mode must be counter or time, got ${JSON.stringify(f.mode.slice(0, 20))}`);
  const application = { label: f.label, mode: f.mode, ...(f.digits !== undefined ? { digits: f.digits } : {}), ...(f.holder !== undefined ? { holder: f.holder } : {}) } as const;
  const r = await flowing(async () => personaliseCard({ issuer: personal, store, connect: await connector(f, log), log }, f.card, { slot: f.slot, application }));
  if (f.json) process.stdout.write(JSON.stringify({ ok: true, slot: r.slot, generation: r.generation, profileCardId: r.profileCardId, chipSerial: r.chipSerial }) + "\n");
  else process.stdout.write(`profile ${r.profileCardId} written to slot ${r.slot} (generation ${r.generation})\n`);
  return EXIT.OK;
}

async function verifyCmd(f: VerifyFlags): Promise<number> {
  const { verifyCard } = await import("./flow.ts");
  const { personal, log } = await tools(f);
  const r = await flowing(async () => verifyCard({ issuer: personal, connect: await connector(f, log), log }, f.slot));
  if (f.json) process.stdout.write(JSON.stringify({ ok: true, genuine: r.genuine, slot: f.slot, generation: r.generation, chipSerial: r.chipSerial, ...(r.reason ? { reason: r.reason } : {}) }) + "\n");
  else process.stdout.write(`card on chip ${r.chipSerial}, slot ${f.slot}: ${r.genuine ? "genuine" : "NOT genuine"}${r.reason ? ` (${r.reason})` : ""}\n`);
  return r.genuine ? EXIT.OK : EXIT.NOT_GENUINE;
}
