import { Command } from "commander";
import { VERSION } from "./lib/version.ts";

/**
 * Each command lives in its own module and registers itself; heavy imports
 * stay inside the command's action so `inkcard --help` is instant.
 */
const program = new Command("inkcard")
  .description("Firmware and tools for the inkcard e-ink payment card")
  .version(VERSION)
  .showHelpAfterError();

const modules = [
  "./build/command.ts",
  "./issuer/command.ts",
  "./flash/command.ts",
  "./provision/command.ts",
  "./phone/command.ts",
  "../sim/command.ts",
];
for (const m of modules) {
  const { register } = (await import(m)) as { register(p: Command): void };
  register(program);
}

// Output into a reader that stops early (`inkcard build | head -1`): end quietly, as a Unix tool ended by
// SIGPIPE does (status 141), not with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(141);
  });
}

await program.parseAsync(process.argv);
