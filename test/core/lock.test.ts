import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { isConsolePassword } from "../../firmware/core/lock.ts";
import { consolePassword } from "../../host-tools/issuance/package.ts";

describe("core/lock", () => {
  it("takes 20 lower-case hex digits", () => {
    expect(isConsolePassword("0123456789abcdef0123")).to.equal(true);
    expect(isConsolePassword("00000000000000000000")).to.equal(true);
    expect(isConsolePassword("ffffffffffffffffffff")).to.equal(true);
  });

  it("agrees with an independent rule on every single-character change and on random strings", () => {
    // The rule as Node's full regular expressions state it (Espruino's cannot: no {20}).
    const reference = (s: string) => /^[0-9a-f]{20}$/.test(s);
    const base = "0123456789abcdef0123";
    for (let i = 0; i < 20; i++) {
      for (let c = 0; c < 256; c++) {
        const s = base.slice(0, i) + String.fromCharCode(c) + base.slice(i + 1);
        expect(isConsolePassword(s), JSON.stringify(s)).to.equal(reference(s));
      }
    }
    for (let n = 0; n < 2000; n++) {
      const s = randomBytes(20).toString("latin1").replace(/[^\x20-\x7e]/g, (ch) => "0123456789abcdefABCDEFg"[ch.charCodeAt(0) % 23] as string);
      expect(isConsolePassword(s)).to.equal(reference(s));
    }
  });

  it("rejects what a cut-off or foreign write leaves: wrong length, upper case, non-hex, not a string", () => {
    for (const bad of [
      "", "0123456789abcdef012", "0123456789abcdef01234", "0123456789ABCDEF0123", "0123456789abcdef012g",
      " 0123456789abcdef012", "0123456789abcdef012\n", "0123456789abcdef012\0", "0x23456789abcdef0123",
    ]) {
      expect(isConsolePassword(bad), JSON.stringify(bad)).to.equal(false);
    }
    for (const bad of [undefined, null, 12345678901234567890, ["0123456789abcdef0123"], { length: 20 }]) {
      expect(isConsolePassword(bad), String(bad)).to.equal(false);
    }
  });

  it("takes every password the provisioning tool derives", () => {
    for (let n = 0; n < 200; n++) expect(isConsolePassword(consolePassword(randomBytes(20)))).to.equal(true);
  });
});
