import { readFileSync } from "node:fs";
import { Board } from "../sim/board/board.ts";
import config from "../espruino.config.js";
import { encodeProfile } from "../firmware/core/profile.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";
for (const timeout of [5000, 0]) {
  const b = new Board({ config: config as any, unpowered: true, scriptTimeoutMs: timeout });
  b.storage.write(".bootcde", readFileSync("dist/firmware.js", "latin1"));
  b.storage.write("ink.prof.new", encodeProfile({ mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: "X", key: new Uint8Array(20).fill(1) }, nodeHash("SHA256")));
  b.restorePower(); b.advance(5000);
  const t = performance.now();
  for (let i = 0; i < 1000; i++) { b.press(); b.advance(2000); }
  console.log("timeout", timeout, "presses/s", (1000 / ((performance.now() - t) / 1000)).toFixed(0), b.textRuns().map(r => r.text).join("|"), JSON.stringify(b.console.transcript()).slice(0, 200));
}
