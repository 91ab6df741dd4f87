/** `inkcard sim` (also `npm start`): the emulated card, its web page and API, an embedded issuer and a demo card. */
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { DEFAULT_DIGITS, MAX_DIGITS, MIN_DIGITS } from "../host-tools/issuance/limits.ts";

interface SimFlags {
  engine: "vm" | "espruino";
  port?: number;
  consolePort?: number;
  state?: string;
  blank?: boolean;
  digits: number;
  headless?: boolean;
  json?: boolean;
  manualClock?: boolean;
}

function intIn(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}..${max}`);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command("sim")
    .description("run the card in a simulator: web page, HTTP API, console on a pseudo-terminal, embedded issuer with a demo card")
    .option("--port <n>", "web server port on 127.0.0.1 (default: a free port)", intIn(0, 65535))
    .option("--console-port <n>", "TCP port of the card's console (default: a free port)", intIn(0, 65535))
    .option("--state <dir>", "keep the card's flash and the issuer's database in DIR, so the card survives a restart")
    .option("--blank", "a board fresh from the factory: no firmware, no profile, no demo card")
    .option("--digits <n>", "digits of the demo card's codes", intIn(MIN_DIGITS, MAX_DIGITS), DEFAULT_DIGITS)
    .addOption(
      new Option("--engine <name>", "what runs the firmware: vm (a node:vm realm on the emulated board) or espruino (the real interpreter under qemu, at a card's speed and memory)")
        .choices(["vm", "espruino"])
        .default("vm"),
    )
    .option("--manual-clock", "virtual time moves only through the API (default: it follows the wall clock; vm engine only)")
    .option("--headless", "do not open the page in a browser")
    .option("--json", "print one JSON line with the addresses (and the run's issuer and console tokens), nothing else on stdout")
    .action(async (flags: SimFlags) => {
      if (flags.engine === "espruino" && flags.manualClock) {
        process.stderr.write("inkcard sim: --manual-clock needs the vm engine: the espruino engine runs in real time\n");
        process.exitCode = 2;
        return;
      }
      const { startSim } = await import("./server/start.ts");
      const progress = (line: string) => process.stderr.write(`${line}\n`);
      let sim: Awaited<ReturnType<typeof startSim>>;
      try {
        sim = await startSim({
          engine: flags.engine,
          port: flags.port,
          consolePort: flags.consolePort,
          state: flags.state,
          blank: flags.blank,
          digits: flags.digits,
          liveClock: !flags.manualClock,
          log: progress,
        });
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { port?: number };
        const message = err.code === "EADDRINUSE" ? `port ${err.port} is in use: choose another (--port, --console-port)` : err.message;
        process.stderr.write(`inkcard sim: ${message}\n`);
        process.exitCode = 1;
        return;
      }
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await sim.close();
        process.exit(0);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      process.on("SIGHUP", stop);

      const a = sim.addresses;
      if (flags.json) {
        process.stdout.write(JSON.stringify(a) + "\n");
        return;
      }
      // The tokens are secrets: only --json (for scripts) prints them.
      const lines = [
        `inkcard simulator${flags.blank ? " (blank board)" : ""}${flags.engine === "espruino" ? " on the Espruino interpreter" : ""}`,
        `  page     ${a.web}`,
        `  API      ${a.api}   (docs/simulator.md)`,
        `  console  ${a.console ?? "(no pseudo-terminal: install socat)"}   ${a.consoleTcp}   (token: run with --json)`,
        `  issuer   ${a.issuer}   (token: run with --json)`,
        ...(sim.demo ? [`  card     ${sim.demo.pan}   ${sim.demo.mode} mode, ${sim.demo.digits} digits, id ${sim.demo.id}`] : []),
        "Ctrl-C stops it.",
      ];
      process.stdout.write(lines.join("\n") + "\n");
      if (!flags.headless) openBrowser(a.web);
    });
}

/** Open the page when there is a desktop to open it on; a failure only means the user opens it. */
function openBrowser(url: string): void {
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return;
  void import("node:child_process").then(({ spawn }) => {
    const child = spawn("xdg-open", [url], { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  });
}
