import { Board } from "../sim/board/board.ts";
import { serveConsole } from "../sim/console/server.ts";
import config from "../espruino.config.js";
const b = new Board({ config: config as any });
const s = await serveConsole(b.console, { pty: true });
b.console.onData(d => process.stderr.write("[out]" + JSON.stringify(d) + "\n"));
console.log(JSON.stringify({ url: s.url, pty: s.ptyPath }));
setInterval(() => {}, 1000);
