import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SerialPort } from "serialport";
import type { Board } from "../../sim/board/board.ts";
import { serveConsole, type ConsoleServer } from "../../sim/console/server.ts";
import { newBoard } from "./helpers.ts";

/** What a client reads from the console, and a way to wait for a pattern in it. */
class Reader {
  text = "";
  private waiters: Array<() => void> = [];
  push(data: Buffer): void {
    this.text += data.toString("latin1");
    for (const w of this.waiters.splice(0)) w();
  }
  async until(pattern: RegExp | string, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    const found = () => (typeof pattern === "string" ? this.text.includes(pattern) : pattern.test(this.text));
    while (!found()) {
      if (Date.now() > deadline) throw new Error(`console never showed ${pattern}; got ${JSON.stringify(this.text)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.text;
  }
  take(): string {
    const t = this.text;
    this.text = "";
    return t;
  }
}

async function connect(server: ConsoleServer): Promise<{ socket: net.Socket; reader: Reader }> {
  const socket = net.connect(server.port, "127.0.0.1");
  await new Promise((r) => socket.once("connect", r));
  socket.write(`${server.token}\n`); // the console's token first (sim/console/server.ts)
  const reader = new Reader();
  socket.on("data", (d) => reader.push(d));
  return { socket, reader };
}

describe("sim console: the REPL over TCP", () => {
  let board: Board;
  let server: ConsoleServer;
  beforeEach(async () => {
    board = await newBoard();
    server = await serveConsole(board.console);
  });
  afterEach(async () => server.close());

  it("echoes, answers =value and gives the prompt back", async () => {
    const { socket, reader } = await connect(server);
    socket.write("1+2\r");
    expect(await reader.until("=3\r\n>")).to.equal("1+2\r\n=3\r\n>");
    socket.destroy();
  });

  it("runs a DLE line without echo, waits for closed brackets, and drops a line on Ctrl-C", async () => {
    const { socket, reader } = await connect(server);
    socket.write("\x10print(6*7)\n");
    expect(await reader.until("42\r\n>")).to.equal("42\r\n>");
    reader.take();
    socket.write("function f(a) {\r  return a + 1;\r}\r");
    await reader.until("=undefined\r\n>");
    expect(reader.take()).to.contain("\r\n:  return a + 1;\r\n:}");
    socket.write("f(1\x03");
    socket.write("f(2)\r");
    expect(await reader.until("=3\r\n>")).to.not.contain("=2");
    socket.destroy();
  });

  it("answers process.env as JSON the way host tools ask for it", async () => {
    const { socket, reader } = await connect(server);
    socket.write('\x10print("<","<<",JSON.stringify(process.env),">>",">")\n');
    const text = await reader.until(">> >");
    const env = JSON.parse(text.slice(text.indexOf("< <<") + 4, text.indexOf(">> >")));
    expect(env).to.include({ BOARD: "MDBT42Q", VERSION: "2v29", SERIAL: board.serial });
    socket.destroy();
  });

  it("honours E.setPassword and E.lockConsole: nothing runs until the password is given", async () => {
    const { socket, reader } = await connect(server);
    socket.write('E.setPassword("sesame"); E.lockConsole()\r');
    await reader.until("password>");
    reader.take();
    socket.write("var ran = 1\r");
    expect(await reader.until("Invalid password\r\npassword>")).to.not.contain("var ran");
    expect(board.evaluate("typeof ran")).to.equal("undefined");
    socket.write("sesame\r");
    await reader.until("Logged in.\r\n>");
    reader.take();
    socket.write("1+1\r");
    await reader.until("=2");
    socket.destroy();
  });

  it("uploads the way the espruino tools do: Ctrl-C, reset(), DLE lines, Storage.write of .bootcde, load()", async () => {
    const { socket, reader } = await connect(server);
    socket.write("\x03\x10reset();\n");
    await reader.until("espruino.com");
    socket.write('\x10require("Storage").write(".bootcde","var up = 40;",0,21);\n');
    socket.write('\x10require("Storage").write(".bootcde","\\nup += 2;",12);\n');
    socket.write("\x10load()\n");
    socket.write("\x10print(up)\n");
    await reader.until("42\r\n");
    expect(board.storage.read(".bootcde")).to.equal("var up = 40;\nup += 2;");
    socket.destroy();
  });
});

describe("sim console: the pseudo-terminal", () => {
  it("is a real serial port to the serialport package, linked to the same REPL", async () => {
    const board = await newBoard();
    const server = await serveConsole(board.console, { pty: true });
    try {
      expect(server.ptyPath).to.be.a("string");
      for (let round = 0; round < 2; round++) {
        const port = new SerialPort({ path: server.ptyPath!, baudRate: 9600 });
        await new Promise((resolve, reject) => port.once("open", resolve).once("error", reject));
        const reader = new Reader();
        port.on("data", (d: Buffer) => reader.push(d));
        port.write(`\x10print("round", ${round} + 1)\n`);
        await reader.until(`round ${round + 1}\r\n`);
        await new Promise((r) => port.close(r));
      }
    } finally {
      await server.close();
    }
  });
});

describe("sim console: the espruino CLI (the real package)", () => {
  let board: Board;
  let server: ConsoleServer;
  let relay: net.Server;
  let relayUrl: string;
  let dir: string;
  before(async () => {
    board = await newBoard();
    server = await serveConsole(board.console);
    // The CLI's own tcp:// transport cannot send the console's token: a relay of the test's own sends it first.
    relay = net.createServer((client) => {
      const card = net.connect(server.port, "127.0.0.1");
      card.write(`${server.token}\n`);
      client.pipe(card).pipe(client);
      client.on("error", () => card.destroy());
      card.on("error", () => client.destroy());
      client.on("close", () => card.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    relayUrl = `tcp://127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
    // Board JSON from a local folder: the CLI otherwise fetches it from espruino.com, and tests stay on loopback.
    dir = mkdtempSync(join(tmpdir(), "inkcard-cli-"));
    writeFileSync(join(dir, "MDBT42Q.json"), JSON.stringify({ info: { builtin_modules: ["Storage", "crypto"] } }));
  });
  after(async () => {
    relay.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ["node_modules/espruino/bin/espruino-cli.js", "--no-ble", "--config", `BOARD_JSON_URL=${dir}`, "-p", relayUrl, ...args], {
      timeout: 30000,
    });

  it("evaluates an expression and reads its result", async () => {
    const { stdout } = await cli("-e", "print(1+2)");
    expect(stdout).to.match(/^--\] >?3$/m);
  });

  it("uploads a file to the card and reads what it prints", async () => {
    const file = join(dir, "hello.js");
    writeFileSync(file, 'function hello(n) {\n  return "hello " + n;\n}\nprint(hello(6 * 7));\n');
    const { stdout } = await cli(file);
    expect(stdout).to.match(/^--\] >?hello 42$/m);
    expect(board.evaluate("typeof hello")).to.equal("function");
  });
});
