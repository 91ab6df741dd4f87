import { Board } from "../sim/board/board.ts";
import config from "../espruino.config.js";
const b = new Board({ config: config as any });
const inputs = ["1+2\r", "\x10print(3)\n", "function f(){\r return 1;\r}\r", "f()\r", "\r", "setTimeout(function(){print('T')},10)\r", "E.setPassword('ab');E.lockConsole()\r", "x\r", "ab\r", "1\r", "\x05", "reset()\r"];
let acc = "";
b.console.onData(d => acc += d);
console.log("BOOT", JSON.stringify(b.console.transcript().slice(-40)));
for (const i of inputs) { acc = ""; b.console.write(i); b.advance(20); console.log(JSON.stringify(i), "->", JSON.stringify(acc)); }
