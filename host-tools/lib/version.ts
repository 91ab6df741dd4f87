import { readFileSync } from "node:fs";

/** package.json's version: the CLI's, and the firmware version the build injects and the tools expect on a card. */
export const VERSION: string = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
