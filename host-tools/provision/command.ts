/**
 * `inkcard provision --port PORT --issuer URL --token T [--force] [--batch N] [--boot-timeout S] [--json] [--verbose]`:
 * issue cards over their serial console (docs/provisioning.md).
 */
import { InvalidArgumentError, type Command } from "commander";
import { DEFAULT_DIGITS, DEFAULT_TIME_STEP, MAX_DIGITS, MAX_STEP_SECONDS, MIN_DIGITS } from "../issuance/limits.ts";
import { VERSION } from "../lib/version.ts";

interface ProvisionFlags {
  port?: string;
  baud?: number;
  issuer?: string;
  token?: string;
  mode: "counter" | "time";
  digits?: number;
  algorithm?: "SHA1" | "SHA256";
  step?: number;
  force?: boolean;
  card?: string;
  batch?: number;
  journal: string;
  bootTimeout: number;
  json?: boolean;
  verbose?: boolean;
}

const TOKEN_ENV = "INKCARD_ISSUER_TOKEN";

function intIn(min: number, max: number) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`expected an integer ${min}..${max}`);
    return Number(v);
  };
}

function oneOf<T extends string>(...values: T[]) {
  return (v: string): T => {
    if (!values.includes(v as T)) throw new InvalidArgumentError(`expected ${values.join(" or ")}`);
    return v as T;
  };
}

export function register(program: Command): void {
  program
    .command("provision")
    .description("issue a card: identify it, get its profile from the issuer, write it atomically, prove it, lock the console")
    .option("--port <path|tcp://host:port>", "the card's serial port (default: espruino.config.js serial.port)")
    .option("--baud <n>", "baud rate (default: espruino.config.js serial.baud)", intIn(300, 4_000_000))
    .option("--issuer <url>", "the issuer, e.g. http://127.0.0.1:8470")
    .option("--token <token>", `issuer API token (or set ${TOKEN_ENV}, which keeps it out of the process list)`)
    .option("--mode <mode>", "counter or time", oneOf("counter", "time"), "counter")
    .option("--digits <n>", `code length (issuer default: ${DEFAULT_DIGITS})`, intIn(MIN_DIGITS, MAX_DIGITS))
    .option("--algorithm <alg>", "SHA1 or SHA256 (issuer default: SHA1)", oneOf("SHA1", "SHA256"))
    .option("--step <seconds>", `time mode: seconds per code (issuer default: ${DEFAULT_TIME_STEP})`, intIn(1, MAX_STEP_SECONDS))
    .option("--force", "replace what the card holds (a reissue: the issuer must agree)")
    .option("--card <id>", "with --force on a locked card: the issuer's id of the card it holds")
    .option("--batch <n>", "provision N cards one after another, swapping boards when asked", intIn(1, 100_000))
    .option("--journal <file>", "where progress is recorded, so a cut-off run resumes", "inkcard-provision.journal")
    .option("--boot-timeout <seconds>", "how long a card may take to restart and answer again (after locking it)", intIn(1, 3600), 30)
    .option("--json", "print one JSON result on stdout")
    .option("--verbose", "say each step (never a key, code, password or token)")
    .action(async (f: ProvisionFlags) => {
      const { runTool, progress } = await import("../lib/run.ts");
      const out = { json: Boolean(f.json), verbose: Boolean(f.verbose) };
      const log = progress(out, "provision");
      const verbose = f.verbose ? log : () => {};
      await runTool("provision", out, () => run(f, log, verbose), (r) =>
        r.cards.map((c) => `${c.outcome} card ${c.cardId} on chip ${c.chipSerial}: console locked`).join("\n") || "nothing to do",
      );
    });
}

async function run(f: ProvisionFlags, log: (l: string) => void, verbose: (l: string) => void) {
  const { loadBoardConfig } = await import("../config.ts");
  const { ToolError } = await import("../lib/errors.ts");
  const { IssuanceClient } = await import("./issuer.ts");
  const { Journal } = await import("./journal.ts");
  const { Link } = await import("../serial/link.ts");
  const { CardConsole } = await import("../serial/card-console.ts");
  const { provisionCard } = await import("./provision.ts");
  const { provisionBatch } = await import("./batch.ts");

  const board = await loadBoardConfig();
  const token = f.token ?? process.env[TOKEN_ENV] ?? "";
  if (!f.issuer) throw new ToolError("no issuer given", "pass --issuer http://host:port");
  if (f.card && !f.force) throw new ToolError("--card is for reissuing a locked card", "add --force, or leave --card out");
  if (f.batch && (f.force || f.card)) throw new ToolError("--batch issues fresh cards only", "reissue cards one at a time with --force");
  const port = f.port ?? board.serial.port;
  const baud = f.baud ?? board.serial.baud;
  const bootMs = f.bootTimeout * 1000;
  const common = {
    issuer: new IssuanceClient(f.issuer, token),
    firmware: VERSION,
    profileFile: board.storage.profile,
    request: { mode: f.mode, digits: f.digits, algorithm: f.algorithm, step: f.step },
    force: Boolean(f.force),
    journal: new Journal(f.journal),
    cardId: f.card,
    log: verbose,
  };
  if (f.batch) {
    const bar = await progressBar(f.batch, log);
    try {
      // The operator's prompts go to stderr whatever the output mode: someone has to swap the boards.
      const prompt = (l: string) => process.stderr.write(`provision: ${l}\n`);
      const cards = await provisionBatch({ ...common, count: f.batch, port, baud, bootMs, prompt, progress: (done) => bar.update(done) });
      return { cards };
    } finally {
      bar.stop();
    }
  }
  const link = await Link.open({ port, baud, bootMs });
  try {
    const card = await provisionCard({ ...common, con: new CardConsole(link) });
    verbose(`${link.bytesSent} bytes sent, ${link.bytesReceived} received`);
    return { cards: [card] };
  } finally {
    await link.close();
  }
}

/** cli-progress on a terminal; plain lines otherwise. */
async function progressBar(total: number, log: (l: string) => void): Promise<{ update(n: number): void; stop(): void }> {
  if (!process.stderr.isTTY) return { update: (n) => log(`${n} of ${total} cards done`), stop: () => {} };
  const { SingleBar, Presets } = await import("cli-progress");
  const bar = new SingleBar({ format: "cards {bar} {value}/{total}", stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0);
  return { update: (n) => bar.update(n), stop: () => bar.stop() };
}
