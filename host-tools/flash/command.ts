/** `inkcard flash [--port PORT|tcp://host:port] [--baud N] [--boot-timeout S]`: upload dist/firmware.js as the card's boot code, then verify it. */
import { InvalidArgumentError, type Command } from "commander";
import { VERSION } from "../lib/version.ts";

interface FlashFlags {
  port?: string;
  baud?: number;
  bootTimeout: number;
  json?: boolean;
  verbose?: boolean;
}

export function register(program: Command): void {
  program
    .command("flash")
    .description("build if needed, upload dist/firmware.js as the card's boot code (espruino package), read its hash back, restart it")
    .option("--port <path|tcp://host:port>", "the card's serial port (default: espruino.config.js serial.port)")
    .option("--baud <n>", "baud rate (default: espruino.config.js serial.baud)", (v: string) => {
      if (!/^[0-9]+$/.test(v) || Number(v) < 300 || Number(v) > 4_000_000) throw new InvalidArgumentError("expected an integer 300..4000000");
      return Number(v);
    })
    .option("--boot-timeout <seconds>", "how long the card may take to restart and answer again", seconds, 30)
    .option("--json", "print one JSON result on stdout")
    .option("--verbose", "say each step, with the espruino package's own log")
    .action(async (f: FlashFlags) => {
      const { runTool, progress } = await import("../lib/run.ts");
      const out = { json: Boolean(f.json), verbose: Boolean(f.verbose) };
      const log = progress(out, "flash");
      await runTool("flash", out, async () => {
        const { loadBoardConfig } = await import("../config.ts");
        const { flashCard } = await import("./flash.ts");
        const board = await loadBoardConfig();
        const bar = await uploadBar(out.json);
        try {
          return await flashCard({
            port: f.port ?? board.serial.port,
            baud: f.baud ?? board.serial.baud,
            firmware: VERSION,
            bootMs: f.bootTimeout * 1000,
            log,
            progress: bar.update,
            toolLog: f.verbose ? (l) => log(`espruino: ${l}`) : undefined,
          });
        } finally {
          bar.stop();
        }
      }, (r) => `flashed ${r.bytes} bytes (sha256 ${r.sha256.slice(0, 16)}…) to chip ${r.chipSerial} on ${r.port}: firmware ${r.firmware} runs`);
    });
}

/** --boot-timeout: whole seconds, 1 to an hour. */
export function seconds(v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 3600) throw new InvalidArgumentError("expected whole seconds 1..3600");
  return Number(v);
}

/** A cli-progress bar on a terminal (stderr), nothing otherwise. */
async function uploadBar(json: boolean): Promise<{ update(sent: number, total: number): void; stop(): void }> {
  if (json || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const { SingleBar, Presets } = await import("cli-progress");
  const bar = new SingleBar({ format: "upload {bar} {percentage}% {value}/{total} bytes", stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  let started = false;
  return {
    update(sent, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(sent);
    },
    stop: () => started && bar.stop(),
  };
}
