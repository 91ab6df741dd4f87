/**
 * Variables a screen update takes on the 2,630-variable interpreter:
 *   npx tsx test/screens/crosscheck/memory.ts
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESPRUINO } from "../../build/espruino.ts";
import { bundleForEspruino, runOnEspruino } from "./espruino.ts";

const program = await bundleForEspruino(join(dirname(fileURLToPath(import.meta.url)), "memory-main.ts"));
process.stdout.write(await runOnEspruino(ESPRUINO, program));
