/**
 * `inkcard phone pair|pay`: the CLI phone of document C. It asks the issuer
 * for a pairing or a payment, relays it to the card (relay.ts) over
 * Bluetooth (ble-transport.ts) or the simulator's bridge (--sim), and for a
 * payment posts the card's answer to the issuer. It prints outcomes only:
 * never the pair key, the payment's code or the card's answer.
 *
 * Exit codes: 0 done (paired / payment accepted), 1 error, 3 declined by
 * the holder, 4 expired, 5 the issuer refused the answer.
 */
import { type Command, InvalidArgumentError } from "commander";

export const EXIT = { OK: 0, ERROR: 1, DECLINED: 3, EXPIRED: 4, REFUSED: 5 } as const;

interface Common {
  card: string;
  issuer: string;
  tokenFile: string;
  sim?: string;
  mtu?: number;
  passkey?: string;
  state?: string;
  verbose?: boolean;
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
  return c
    .requiredOption("--card <id>", "the issuer's id of the card")
    .requiredOption("--issuer <url>", "the issuer, e.g. http://127.0.0.1:8470")
    .requiredOption("--token-file <file>", "a file holding the issuer API token")
    .option("--sim <url>", "relay through the simulator (its web address) instead of Bluetooth")
    .option("--mtu <n>", "the ATT MTU: 23 writes 20 bytes, 53 writes 50 (default: 53 with --sim, 23 over Bluetooth)", int(23, 53))
    .option("--passkey <digits>", "the passkey the card shows when the link is paired, if it asks (else it is read from stdin)")
    .option("--state <file>", "the phone's state (device id, pairings); default $INKCARD_PHONE_STATE or ~/.config/inkcard/phone.json")
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
}

async function main(run: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await run();
  } catch (e) {
    const { RelayError } = await import("./relay.ts");
    const code = e instanceof PhoneError ? e.exitCode : EXIT.ERROR;
    const what = e instanceof RelayError ? `${e.message} (${e.code})` : (e as Error).message;
    process.stderr.write(`phone: ${what}\n`);
    process.exitCode = code;
  }
}

/** ISO 4217 minor units that are not 2 (the currencies in use; 2 for the rest). */
const EXPONENTS: Record<string, number> = { BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0, KRW: 0, KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0 };

/** "12.34" at exponent 2 -> 1234; refuses more decimals than the currency has. */
export function minorUnits(amount: string, exponent: number): number {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) throw new PhoneError(`the amount must be a decimal number like 12.34, got ${JSON.stringify(amount)}`);
  const frac = m[2] ?? "";
  if (frac.length > exponent) throw new PhoneError(`the amount has ${frac.length} decimals; the currency has ${exponent}`);
  const n = Number(m[1] + frac.padEnd(exponent, "0"));
  if (!Number.isSafeInteger(n)) throw new PhoneError("the amount is too large");
  return n;
}

async function tools(f: Common) {
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
  return { issuer: new IssuerClient(base.href.replace(/\/$/, ""), token), store: new FileStore(f.state ?? defaultStatePath()), log };
}

/** The link to the card, and a way to make it again (for the relay's reconnects). */
async function link(f: Common, log: (l: string) => void) {
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
async function askPasskey(f: Common): Promise<string> {
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

async function pair(f: Common): Promise<number> {
  const { PhoneRelay, linkKey } = await import("./relay.ts");
  const { hexToBytes } = await import("../../firmware/core/bytes.ts");
  const { issuer, store, log } = await tools(f);
  const state = store.load();
  const pairing = await issuer.createPairing(f.card, state.deviceId);
  log(`the issuer granted pairing epoch ${pairing.epoch}`);
  const { transport, reconnect } = await link(f, log);
  const relay = new PhoneRelay(transport, { store, reconnect, log });
  try {
    const h = await relay.hello();
    if (linkKey(h.linkId) !== pairing.linkId.toLowerCase()) throw new PhoneError(`the card in range is not card ${f.card}`);
    await relay.pair(hexToBytes(pairing.grant), hexToBytes(pairing.pairKey), pairing.epoch, hexToBytes(state.deviceId));
  } finally {
    await relay.close().catch(() => {});
  }
  process.stdout.write(`paired with card ${f.card} (epoch ${pairing.epoch})\n`);
  return EXIT.OK;
}

async function pay(f: PayFlags): Promise<number> {
  const { PhoneRelay, linkKey } = await import("./relay.ts");
  const { hexToBytes, readU32BE } = await import("../../firmware/core/bytes.ts");
  const currency = f.currency.toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new PhoneError("--currency must be an ISO 4217 code like EUR");
  const exponent = f.exponent ?? EXPONENTS[currency] ?? 2;
  const amount = minorUnits(f.amount, exponent);
  const { issuer, store, log } = await tools(f);
  const created = await issuer.createPayment(f.card, { amount, currency, exponent, payee: f.payee, details: f.details, ttlSeconds: f.ttl });
  const envelope = hexToBytes(created.frame);
  const linkId = readU32BE(envelope, 2);
  if (!store.load().cards[linkKey(linkId)]) throw new PhoneError(`this phone is not paired with card ${f.card}: run inkcard phone pair first`);
  const { transport, reconnect } = await link(f, log);
  const relay = new PhoneRelay(transport, { store, reconnect, log });
  let answer: string;
  try {
    const h = await relay.hello();
    if (h.linkId !== linkId) throw new PhoneError(`the card in range is not card ${f.card}`);
    if (h.epoch !== store.load().cards[linkKey(linkId)].epoch) throw new PhoneError("the card is paired with another phone (or an earlier pairing): run inkcard phone pair again");
    log("payment sent: confirm on the card (a long press declines)");
    process.stderr.write("phone: confirm the payment on the card\n");
    answer = await relay.pay(envelope);
  } finally {
    await relay.close().catch(() => {});
  }
  if (answer === "declined") {
    process.stdout.write(`payment ${created.paymentId} declined on the card\n`);
    return EXIT.DECLINED;
  }
  if (answer === "expired") {
    process.stdout.write(`payment ${created.paymentId} expired before it was confirmed\n`);
    return EXIT.EXPIRED;
  }
  const result = await issuer.confirmPayment(created.paymentId, answer);
  if (!result.ok) {
    process.stdout.write(`payment ${created.paymentId} refused by the issuer (${result.reason})\n`);
    return EXIT.REFUSED;
  }
  process.stdout.write(`payment ${created.paymentId} confirmed and accepted\n`);
  return EXIT.OK;
}
