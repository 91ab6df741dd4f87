/** The CLI phone's state file (host-tools/phone/state.ts): made once, 0600, replaced whole on every save. */
import { expect } from "chai";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "../../host-tools/phone/state.ts";

describe("phone state file", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "inkcard-phone-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("makes a device id once, in a file of mode 0600 in a directory it creates", () => {
    const path = join(dir, "sub", "phone.json");
    const a = new FileStore(path).load();
    expect(a.deviceId).to.match(/^[0-9a-f]{32}$/);
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(new FileStore(path).load().deviceId).to.equal(a.deviceId);
    expect(new FileStore(join(dir, "other.json")).load().deviceId).to.not.equal(a.deviceId);
  });

  it("saves by replacing the file whole (a new inode, no temporary left), 0600 even over a looser file", () => {
    const path = join(dir, "phone.json");
    const s = new FileStore(path);
    const st = s.load();
    chmodSync(path, 0o644);
    const before = statSync(path).ino;
    st.cards["0000abcd"] = { linkId: 0xabcd, epoch: 2, pairKey: "11".repeat(32), seq: 7 };
    s.save(st);
    expect(statSync(path).ino).to.not.equal(before);
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(readdirSync(dir)).to.deep.equal(["phone.json"]);
    expect(new FileStore(path).load()).to.deep.equal(st);
  });

  it("a save that fails leaves the previous state as it was", () => {
    const path = join(dir, "phone.json");
    const s = new FileStore(path);
    const st = s.load();
    const text = readFileSync(path, "utf8");
    const bad = structuredClone(st);
    bad.cards["00000001"] = { linkId: 1, epoch: 1, pairKey: "zz", seq: 1 };
    expect(() => s.save(bad)).to.throw(/pairKey/);
    chmodSync(dir, 0o500); // a directory the temporary file cannot be made in
    try {
      if (process.getuid?.() !== 0) {
        const ok = structuredClone(st);
        ok.cards["00000001"] = { linkId: 1, epoch: 1, pairKey: "22".repeat(32), seq: 1 };
        expect(() => s.save(ok)).to.throw();
      }
    } finally {
      chmodSync(dir, 0o700);
    }
    expect(readFileSync(path, "utf8")).to.equal(text);
    expect(readdirSync(dir)).to.deep.equal(["phone.json"]);
  });

  it("refuses a damaged file, naming the field and never its value", () => {
    const path = join(dir, "phone.json");
    const key = "ab".repeat(31) + "zz";
    writeFileSync(path, JSON.stringify({ deviceId: "00".repeat(16), cards: { "00000002": { linkId: 2, epoch: 1, pairKey: key, seq: 0 } } }));
    expect(() => new FileStore(path).load()).to.throw(/pairKey/).and.satisfy((e: Error) => !e.message.includes(key));
    writeFileSync(path, "{ not json");
    expect(() => new FileStore(path).load()).to.throw(/not JSON/);
  });
});
