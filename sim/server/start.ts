/**
 * One running simulator: an emulated board with the firmware flashed, its
 * console on TCP and a pseudo-terminal, an embedded issuer with a token for
 * this run, a demo card issued through it, and the web server. `inkcard sim`
 * (sim/command.ts), the tests and the benchmark all start it through here.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { BoardConfig } from "../../firmware/board-config.ts";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { IssuerClient, IssuerHttpError, loadMasterKey, startIssuer, type CardView, type RunningIssuer } from "../../host-tools/issuer/index.ts";
import { ESPRUINO, haveEspruino } from "../../host-tools/lib/interpreter.ts";
import { Board } from "../board/board.ts";
import { Flash } from "../board/flash.ts";
import type { Ssd1681 } from "../board/ssd1681.ts";
import { serveConsole, type ConsoleLine } from "../console/server.ts";
import { issueDemoCard } from "../demo-card.ts";
import { EspruinoCard } from "../espruino/card.ts";
import { shimSource } from "../espruino/shim.ts";
import { cardState, type SimCard, type Verify } from "./api.ts";
import { BoardCard } from "./card.ts";
import { ConsoleLog } from "./console-log.ts";
import { StateStream } from "./events.ts";
import type { BleBridgeDeps } from "./ble-bridge.ts";
import { startWebServer } from "./server.ts";
import { DEFAULT_DIGITS, MAX_DIGITS, MIN_DIGITS } from "../../host-tools/issuance/limits.ts";

/** vm: the bundle in a node:vm realm on the emulated board (sim/board); espruino: on the real interpreter (sim/espruino). */
export type Engine = "vm" | "espruino";
export const ENGINES: readonly Engine[] = ["vm", "espruino"];

export interface SimOptions {
  /** Which interpreter runs the firmware (default vm). */
  engine?: Engine;
  /** Keep the card's flash, chip serial, issuer database and dev master key in this directory. */
  state?: string;
  /** A board fresh from the factory: no firmware flashed, no demo card. */
  blank?: boolean;
  /** Web server port (default 0: a free one). */
  port?: number;
  /** The console's TCP port (default 0: a free one). */
  consolePort?: number;
  /** Digits of the demo card's codes (default DEMO_DIGITS). */
  digits?: number;
  /** Keep virtual time in step with the wall clock (default true); false: it moves only through the API (vm engine only: the espruino engine runs in real time). */
  liveClock?: boolean;
  /** Progress lines (building, issuing), never secrets. */
  log?: (line: string) => void;
}

/**
 * The demo card shows 3 digits: the card replaces the 3-digit CVV2 printed on
 * a card (document B), and 3 is the issuer's default.
 */
export const DEMO_DIGITS = DEFAULT_DIGITS;

/** What `inkcard sim --json` prints. */
export interface SimAddresses {
  web: string;
  api: string;
  issuer: string;
  /** Path of the console's pseudo-terminal; null when socat is not installed. */
  console: string | null;
  /** The same console on loopback TCP: a client's first line must be consoleToken. */
  consoleTcp: string;
  /** The console's token (a secret: code sent to the console runs on this machine). */
  consoleToken: string;
  /** An issuer API token made for this run. */
  token: string;
  /** The demo card's id at the issuer (absent with --blank). */
  card?: string;
}

/** What both engines offer. */
export interface RunningSim {
  engine: Engine;
  addresses: SimAddresses;
  /** The demo card as the issuer sees it (no secrets); absent with --blank. */
  demo: CardView | undefined;
  config: BoardConfig;
  card: SimCard;
  /** The panel model: what the glass shows. */
  panel: Ssd1681;
  /** The card's Storage as it is now (on the espruino engine a copy: look, do not write). */
  storage(): { list(): string[]; read(name: string): string | undefined };
  /** The card's serial line, as a console client has it: write() types, onData() hears. */
  line: ConsoleLine;
  /** Console output so far (what GET /api/console serves). */
  console: ConsoleLog;
  issuer: RunningIssuer;
  close(): Promise<void>;
}

export interface VmSim extends RunningSim {
  engine: "vm";
  board: Board;
  card: BoardCard;
}

export interface EspruinoSim extends RunningSim {
  engine: "espruino";
  card: EspruinoCard;
}

const FLASH_FILE = "flash.bin";

/** What start needs from each engine. */
type EngineParts = {
  panel: Ssd1681;
  storage: () => { list(): string[]; read(name: string): string | undefined };
  line: ConsoleLine;
  serial: () => string;
  /** Wait until the card has finished what it started. */
  settle: () => Promise<void>;
  /** The card's radio for the Bluetooth bridge (server.ts). */
  ble: BleBridgeDeps;
} & ({ engine: "vm"; board: Board; card: BoardCard } | { engine: "espruino"; card: EspruinoCard });
const CHIP_FILE = "chip.json";
const DEMO_FILE = "demo-card.json";

export function startSim(o?: SimOptions & { engine?: "vm" }): Promise<VmSim>;
export function startSim(o: SimOptions & { engine: "espruino" }): Promise<EspruinoSim>;
export function startSim(o?: SimOptions): Promise<VmSim | EspruinoSim>;
export async function startSim(o: SimOptions = {}): Promise<VmSim | EspruinoSim> {
  const log = o.log ?? (() => {});
  const engine = o.engine ?? "vm";
  if (!ENGINES.includes(engine)) throw new Error(`engine must be one of ${ENGINES.join(", ")}, got ${engine}`);
  if (engine === "espruino" && !haveEspruino()) throw new Error(`the espruino engine needs the interpreter at ${ESPRUINO} (set ESPRUINO)`);
  const config = await loadBoardConfig();
  const digits = o.digits ?? DEMO_DIGITS;
  if (!Number.isInteger(digits) || digits < MIN_DIGITS || digits > MAX_DIGITS) throw new Error(`digits must be an integer ${MIN_DIGITS}..${MAX_DIGITS}, got ${digits}`);
  const dir = o.state ? resolve(o.state) : mkdtempSync(join(tmpdir(), "inkcard-sim-"));
  if (o.state) mkdirSync(dir, { recursive: true, mode: 0o700 });

  const cleanups: Array<() => unknown> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  };
  if (!o.state) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const bundle = o.blank ? undefined : readFileSync((await ensureFirmwareBuilt(log)).file, "latin1");

    const consoleLog = new ConsoleLog();
    let made: EngineParts;
    if (engine === "vm") {
      const flash = new Flash(o.state ? { file: join(dir, FLASH_FILE) } : {});
      cleanups.push(() => flash.close());
      const board = new Board({ config, flash, serial: chipSerial(o.state ? dir : undefined), unpowered: true });
      board.on("output", (bytes: string) => consoleLog.append(bytes));
      const card = new BoardCard(board);
      // Flashing: the bundle becomes the boot code (again only when it changed, so --state keeps its wear low).
      if (bundle !== undefined && board.storage.read(".bootcde") !== bundle) board.storage.write(".bootcde", bundle);
      board.restorePower();
      card.settle();
      cleanups.push(() => board.cutPower());
      // The board runs on a virtual clock: the bridge settles it after each op, as the HTTP actions do.
      const ble = { ble: board.ble, settle: () => card.settle() };
      made = { engine, board, card, panel: board.panel, storage: () => board.storage, line: board.console, serial: () => board.serial, settle: async () => card.settle(), ble };
    } else {
      // The interpreter's own directory: its espruino.flash (kept with --state) and the shim's pseudo-terminal.
      const card = new EspruinoCard({ config, dir: join(dir, "espruino") });
      card.on("output", (bytes: string) => consoleLog.append(bytes));
      // Flashing with the power off: the shim as .boot0, the bundle as .bootcde, as the vm engine does.
      card.install([[".boot0", shimSource(config)], ...(bundle === undefined ? [] : [[".bootcde", bundle] as [string, string]])]);
      cleanups.push(() => card.close());
      await card.restorePower();
      // The interpreter takes the radio's events on its own, in real time: nothing to settle.
      const ble = { ble: card.ble, settle: () => {} };
      made = { engine, card, panel: card.panel, storage: () => card.storage(), line: card, serial: () => card.serial, settle: () => card.settled(), ble };
    }
    const card: SimCard = made.card;

    // The pseudo-terminal needs Debian's socat; without it the console is served on TCP only.
    const pty = onPath("socat");
    const con = await serveConsole(made.line, { pty, port: o.consolePort ?? 0 });
    if (!pty) log(`the console is on ${con.url} only: install Debian's socat (scripts/setup.sh) for a pseudo-terminal`);
    cleanups.push(() => con.close());

    // A development issuer: its own master key in a 0600 file next to its database.
    const masterKey = loadMasterKey({ dev: true, devFile: join(dir, "master.key") }, o.state ? log : undefined);
    const issuer = await startIssuer({ db: join(dir, "issuer.sqlite"), port: 0, masterKey, logLevel: "silent" });
    masterKey.fill(0);
    cleanups.push(() => issuer.close());
    const token = await issuer.createToken("inkcard sim");

    let demo: CardView | undefined;
    if (!o.blank) {
      demo = await keptDemoCard(dir, o.state !== undefined, issuer.url, token, made.storage(), config.storage.profile);
      if (!demo) {
        demo = await issueDemoCard({ issuer: issuer.url, token, console: `${con.url}?token=${con.token}`, profileFile: config.storage.profile, digits });
        if (o.state) writeFileSync(join(dir, DEMO_FILE), JSON.stringify({ card: demo.id }) + "\n");
        log(`issued demo card ${demo.id} (counter mode, ${demo.digits} digits)`);
      }
      await made.settle();
    }
    const cardId = demo?.id;

    const client = new IssuerClient(issuer.url, token);
    const verify: Verify | undefined = cardId === undefined ? undefined : async (code) => {
      try {
        return { status: 200, body: await client.verify(cardId!, code) };
      } catch (e) {
        // The issuer's refusals (4xx) pass through; its failures are a bad gateway, not our bug.
        if (e instanceof IssuerHttpError) return { status: e.status < 500 ? e.status : 502, body: { error: e.message } };
        return { status: 502, body: { error: `the embedded issuer did not answer: ${(e as Error).message}` } };
      }
    };
    const events = new StateStream(() => cardState(card, consoleLog), 100);
    const web = await startWebServer(
      {
        card,
        console: consoleLog,
        verify,
        events,
        ble: made.ble,
        info: () => ({ card: cardId ?? null, digits: demo?.digits ?? null, liveClock: engine === "espruino" || o.liveClock !== false, serial: made.serial(), engine }),
      },
      o.port ?? 0,
    );
    cleanups.push(() => web.close());
    if (made.engine === "vm" && o.liveClock !== false) {
      const live = made.card;
      live.startLiveClock();
      cleanups.push(() => live.stopLiveClock());
    }

    const common = {
      config,
      panel: made.panel,
      storage: made.storage,
      line: made.line,
      addresses: {
        web: web.url,
        api: `${web.url}api`,
        issuer: issuer.url,
        console: con.ptyPath ?? null,
        consoleTcp: con.url,
        consoleToken: con.token,
        token,
        ...(cardId ? { card: cardId } : {}),
      },
      demo,
      console: consoleLog,
      issuer,
      close,
    };
    return made.engine === "vm" ? { ...common, engine: "vm", board: made.board, card: made.card } : { ...common, engine: "espruino", card: made.card };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The chip's serial: kept with --state (the same chip after a restart), else a fresh one. */
function chipSerial(dir: string | undefined): string | undefined {
  if (!dir) return undefined;
  const file = join(dir, CHIP_FILE);
  if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { serial: string }).serial;
  const serial = `${randomBytes(4).toString("hex")}-${randomBytes(4).toString("hex")}`;
  writeFileSync(file, JSON.stringify({ serial }) + "\n");
  return serial;
}

/** With --state: the demo card issued in an earlier run, if the issuer still knows it and the card still holds a profile. */
async function keptDemoCard(
  dir: string,
  kept: boolean,
  issuer: string,
  token: string,
  storage: { read(name: string): string | undefined },
  profileFile: string,
): Promise<CardView | undefined> {
  const file = join(dir, DEMO_FILE);
  if (!kept || !existsSync(file) || storage.read(profileFile) === undefined) return undefined;
  const { card } = JSON.parse(readFileSync(file, "utf8")) as { card: string };
  try {
    return await new IssuerClient(issuer, token).getCard(card);
  } catch (e) {
    if (e instanceof IssuerHttpError && e.status === 404) return undefined;
    throw e;
  }
}

/** True when an executable of that name is on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && existsSync(join(dir, name)));
}
