/**
 * Writes the reference images test/screens/ref/<screen>.png from the current
 * fonts and screens. Run it on purpose, look at the images, then commit them:
 *
 *   npx tsx test/screens/make-refs.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { frameToPng } from "./png.ts";
import { HEIGHT, render, SCREENS, WIDTH } from "./render.ts";

const dir = join(dirname(fileURLToPath(import.meta.url)), "ref");
mkdirSync(dir, { recursive: true });
for (const [name, draw] of Object.entries(SCREENS)) {
  const { frame, runs } = render(draw);
  writeFileSync(join(dir, `${name}.png`), frameToPng(frame, WIDTH, HEIGHT));
  console.log(`ref/${name}.png`, runs.map((r) => JSON.stringify(r.text)).join(" "));
}
