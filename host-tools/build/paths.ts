import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FIRMWARE_DIR = join(ROOT, "firmware");
export const DIST_FILE = join(ROOT, "dist", "firmware.js");
