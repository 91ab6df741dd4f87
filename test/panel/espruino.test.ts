// The ES5 build of the driver on the real Espruino interpreter (Linux build, built by a
// teammate outside the repository): it must load, run its whole sequence and hold no
// memory between updates. Skipped where the interpreter is absent.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ESPRUINO = process.env.ESPRUINO ?? "/work/espruino-bin/espruino-2630";
const RUNNER = join(ROOT, "../shared/tools/run-espruino.sh");

describe("SSD1681 driver on the Espruino interpreter", function () {
  this.timeout(30_000);
  before(function (this: Mocha.Context) {
    if (!existsSync(ESPRUINO) || !existsSync(RUNNER)) this.skip();
  });

  it("loads as ES5, runs 100 updates, refuses one while busy, and does not grow in memory", () => {
    const { outputText } = ts.transpileModule(readFileSync(join(ROOT, "firmware/hal/ssd1681.ts"), "utf8"), {
      compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.CommonJS, removeComments: true },
    });
    const dir = mkdtempSync(join(tmpdir(), "panel-espruino-"));
    try {
      const file = join(dir, "run.js");
      writeFileSync(file, "var exports = {};\n" + outputText + readFileSync(join(ROOT, "test/panel/on-espruino.js"), "utf8"));
      // Throws on a non-zero exit: 1 interpreter error, 2 "Uncaught" in the output, 124 timeout.
      const out = execFileSync("bash", [RUNNER, "-b", ESPRUINO, "-t", "20", file], { encoding: "utf8" });
      const lines = out.split("\n").filter((l) => l.trim());
      expect(lines.slice(0, 2)).to.deep.equal(["refused: SSD1681: update in progress", "done 100 timeouts 0"]);
      const num = (re: RegExp) => Number(lines.map((l) => re.exec(l)?.[1]).find((v) => v !== undefined));
      // A leak of one variable per update would show as 99; the interpreter's own input handling moves by 2 or 3.
      expect(num(/^drift (-?\d+)$/), "variables gained over 99 updates").to.be.within(-5, 5);
      expect(num(/^driver vars (\d+)$/), "variables the driver object holds").to.be.within(1, 150);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
