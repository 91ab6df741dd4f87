// The ES5 build of the driver on the real Espruino interpreter (Linux build, never part
// of the repository; see test/build/espruino.ts): it must load, run its whole sequence
// and hold no memory between updates. Skipped where the interpreter is absent.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { requireEspruino, runOnEspruino } from "../build/espruino.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("SSD1681 driver on the Espruino interpreter", function () {
  this.timeout(30_000);
  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });

  it("loads as ES5, runs 100 updates, refuses one while busy, and does not grow in memory", async () => {
    const { outputText } = ts.transpileModule(readFileSync(join(ROOT, "firmware/hal/ssd1681.ts"), "utf8"), {
      compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.CommonJS, removeComments: true },
    });
    const run = await runOnEspruino("var exports = {};\n" + outputText + readFileSync(join(ROOT, "test/panel/on-espruino.js"), "utf8"));
    expect(run.failed, run.output).to.equal(false);
    const lines = run.output.split("\n");
    expect(lines.slice(0, 2)).to.deep.equal(["refused: SSD1681: update in progress", "done 100 timeouts 0"]);
    const num = (re: RegExp) => Number(lines.map((l) => re.exec(l)?.[1]).find((v) => v !== undefined));
    // A leak of one variable per update would show as 99; the interpreter's own input handling moves by 2 or 3.
    expect(num(/^drift (-?\d+)$/), "variables gained over 99 updates").to.be.within(-5, 5);
    expect(num(/^driver vars (\d+)$/), "variables the driver object holds").to.be.within(1, 150);
  });
});
