/** `inkcard build`: compile firmware/ into dist/firmware.js and say how big it is. */
import type { Command } from "commander";
import { relative } from "node:path";

interface BuildFlags {
  config?: string;
  out?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("build")
    .description("compile firmware/ into dist/firmware.js: type-checked, gated for Espruino, ES5, minified, board injected")
    .option("--config <file>", "board description (default: the repository's espruino.config.js)")
    .option("--out <file>", "where to write the bundle (default: dist/firmware.js)")
    .option("--json", "print the result (or the errors) as JSON")
    .action(async (flags: BuildFlags) => {
      const { buildFirmware, BuildError, BUDGET_BYTES } = await import("./build.ts");
      const { ConfigError } = await import("../config.ts");
      const paint = (stream: NodeJS.WriteStream, code: number) => (s: string) =>
        stream.isTTY && !process.env.NO_COLOR ? `\x1b[${code}m${s}\x1b[0m` : s;
      try {
        const r = await buildFirmware({ config: flags.config, outFile: flags.out });
        const file = relative(process.cwd(), r.file);
        const percent = ((100 * r.bytes) / BUDGET_BYTES).toFixed(1);
        if (flags.json) {
          console.log(JSON.stringify({ ok: true, file, bytes: r.bytes, budgetBytes: BUDGET_BYTES, sha256: r.sha256 }));
        } else {
          console.log(`${paint(process.stdout, 32)("built")} ${file}: ${r.bytes} bytes, ${percent}% of the ${BUDGET_BYTES / 1024} KB budget`);
          console.log(`  sha256 ${r.sha256}`);
        }
      } catch (e) {
        if (!(e instanceof BuildError || e instanceof ConfigError)) throw e;
        const [summary, ...details] = e.message.split("\n");
        if (flags.json) console.log(JSON.stringify({ ok: false, error: summary, details }));
        else console.error(`${paint(process.stderr, 31)("build failed:")} ${[summary, ...details].join("\n  ")}`);
        process.exitCode = 1;
      }
    });
}
