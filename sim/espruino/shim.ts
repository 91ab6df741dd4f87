/**
 * The shim the espruino engine puts in the card's `.boot0` (never in the
 * bundle): Espruino runs `.boot0` before `.bootcde` at every boot, load() and
 * reset(), so the firmware finds these globals already replaced. The Linux
 * build has no pins (a pin never changes, digitalRead gives 0), no NRF, and
 * sends SPI nowhere; the shim carries what the firmware does to its pins to
 * the simulator's board models (channel.ts) over Serial1, opened on a
 * pseudo-terminal ("sim.pty" in the interpreter's working directory), and
 * what the board does to the card's input pins back. The console (stdin and
 * stdout) is not used, so it works the same when the firmware has locked it.
 *
 * Card -> simulator, binary records (each counts as one, see `ack` below):
 *   H n serial        hello: the shim is up (boot, load(), reset()); getSerial()
 *   P pin level       digitalWrite
 *   S sck mosi mode lenLo lenHi bytes   SPI write; mode bit 2: LSB first
 *   C                 Graphics clear(): a new screen is being drawn
 *   T xLo xHi yLo yHi n text            Graphics drawString: the text runs
 *   Y seq t0 t1 t2    answer to a ping: ms until the card's next timer (0xFFFFFF:
 *                     none); not counted
 *   J lenLo lenHi json  a call to NRF: JSON [op, a, b] (op: s setServices, u
 *                     updateServices, k setSecurity, a setAdvertising, d disconnect,
 *                     z sleep, w wake); not counted
 *   K                 a Bluetooth event taken off the IO buffer (see W, V); not counted
 * Simulator -> card, text lines (a pseudo-terminal turned 0xFF into 0xFD):
 *   L pin,level,count,time  the level of an input pin the board drives (button,
 *                     BUSY), how many records the simulator has taken so far, and
 *                     when it changed: getTime() on the Linux build is the host's
 *                     clock, so the simulator's Date.now()/1000 is the card's time
 *   Q seq             ping
 *   A ms              move the card's timers on by ms (see card.ts advance())
 *   W key,base64      a central wrote to the characteristic declared under key:
 *                     its onWrite({data: ArrayBuffer}) runs from a timer
 *   V json            an NRF event: JSON [event, args...] (connect, disconnect,
 *                     passkey, security), emitted on NRF
 *
 * Bluetooth (only where the interpreter has no NRF of its own): NRF's calls
 * go to the simulator's model (sim/board/ble.ts, driven by bluetooth.ts) as
 * JSON; NRF.on/emit are Espruino's own, on every object. A central's writes
 * and the events come one line at a time: the shim answers K as it takes
 * each (Espruino pops the event off its IO buffer before running its
 * handler) and the simulator sends the next only then, so the model's 1 KB
 * IO buffer fills while the card is busy, as a card's does, and the Linux
 * build's own serial buffer never holds more than one. The shim keeps only
 * the onWrite functions, by the characteristic's key; what the model would
 * throw synchronously (an updateServices over maxLen, or while a restart
 * waits) comes back on the console as Uncaught, and getAddress and
 * getSecurityStatus are not there.
 *
 * BUSY answers the card's own traffic, which is still on its way to the panel
 * model when the driver reads the pin right after it: until the simulator
 * has counted every record sent, BUSY reads high (busy), and it falls (a
 * falling edge for the watches) once the model says so. Watches: Espruino's
 * semantics (edge, repeat, debounce with the time of the last edge), for the
 * two pins the board drives; a watch on any other pin never fires, as on
 * Linux. Edges carry the time they happened, so debouncing decides as a
 * card's does even when the card was too busy to see them as they came (an
 * edge that stayed longer than the debounce time counts, whenever it is
 * handled). A ping's answer measures timers from a timer made for the purpose:
 * Espruino keeps them relative to its last idle loop, which advance() moves.
 * Callbacks run from a timer, as Espruino runs watches from its idle
 * loop (an exception in one is the firmware's, reported as Uncaught, and never
 * stops the shim's Serial1 handler). SPI data is sent as given, never copied:
 * the frame is 5,000 bytes, and a copy does not fit in a card's memory during
 * a press. Only single pins are forwarded (no arrays), SPI.write takes one
 * argument (a number, array, string or typed array), SPI.send returns zeros.
 */
import type { BoardConfig } from "../../firmware/board-config.ts";
import { Pins } from "../board/pins.ts";

/** The pseudo-terminal's name in the interpreter's working directory. */
export const CHANNEL_FILE = "sim.pty";

export const REC = { hello: 0x48, pin: 0x50, spi: 0x53, clear: 0x43, text: 0x54, pong: 0x59, nrf: 0x4a, taken: 0x4b } as const;
/** "No timer" in a pong. */
export const NO_TIMER = 0xffffff;

function pinNumber(name: string): number {
  const n = new Pins().find(name);
  if (n === undefined) throw new Error(`board config: no pin ${name}`);
  return n;
}

/** The `.boot0` source for this board: ES5 for Espruino, one function scope, nothing left in the global scope but the replaced built-ins. */
export function shimSource(config: BoardConfig): string {
  const busy = pinNumber(config.panel.busy);
  const button = pinNumber(config.button.pin);
  const released = config.button.activeLow ? 1 : 0;
  return `// inkcard simulator: the board's pins over Serial1 (sim/espruino/shim.ts). Not part of the firmware.
(function(){
var S=Serial1,B=${busy},K=${button},lv={},sent=0,ack=-1,ws=[],wid=0,buf="",dr=digitalRead,ow={};
lv[B]=1;lv[K]=${released};
S.setup(115200,{path:${JSON.stringify(CHANNEL_FILE)}});
function num(p){return typeof p=="number"?p:parseInt(String(p).substr(1));}
function rec(a,b){S.write(a);if(b!==undefined)S.write(b);sent++;}
function level(p){return p==B&&ack!=sent?1:lv[p];}
function fire(w,st,t){var l=w.l;w.l=t;if(w.e&&(st?w.e<0:w.e>0))return;if(!w.r)ws.splice(ws.indexOf(w),1);
if(typeof w.f=="function")setTimeout(w.f,0,{state:!!st,time:t,lastTime:l,pin:"D"+w.p});}
function deb(w){w.t=0;if(w.q!=w.s){w.s=w.q;fire(w,w.s,w.u);}}
function edge(p,was,t){var now=level(p),i,w;if(now==was)return;
for(i=ws.length-1;i>=0;i--){w=ws[i];if(w.p!=p)continue;
if(!w.d){w.s=now;fire(w,now,t);continue;}
if(w.t){clearTimeout(w.t);w.t=0;if((t-w.u)*1000>=w.d)deb(w);}
if(now!=w.s){w.q=now;w.u=t;w.t=setTimeout(deb,w.d,w);}}}
function next(){var t=global["\\xff"].timers,p=setTimeout(nop,0),o=t[p].time,m=${0xffffff},i,x;clearTimeout(p);
for(i in t)if(t[i]){x=(t[i].time-o)/1000;if(x<m)m=x;}return m<0?0:m|0;}
function msg(m){var c=m[0],a=m.substr(1).split(",");
if(c=="L"){var wb=level(B),wk=level(K),t=+a[3];lv[+a[0]]=+a[1];ack=+a[2];edge(B,wb,t);edge(K,wk,t);}
else if(c=="Q"){var n=next();S.write([${REC.pong},+a[0],n&255,(n>>8)&255,n>>16]);}
else if(c=="A")setTime(getTime()-a[0]/1000);
else if(c=="W"){S.write(${REC.taken});if(ow[a[0]])setTimeout(ow[a[0]],0,{data:E.toArrayBuffer(atob(a[1]))});}
else if(c=="V"){S.write(${REC.taken});NRF.emit.apply(NRF,JSON.parse(m.substr(1)));}}
function nop(){}
S.on("data",function(d){buf+=d;var i;while((i=buf.indexOf("\\n"))>=0){msg(buf.substr(0,i));buf=buf.substr(i+1);}});
function nrf(a){var j=JSON.stringify(a);S.write([${REC.nrf},j.length&255,j.length>>8]);S.write(j);}
if(typeof NRF=="undefined")global.NRF={
setServices:function(d,o){var s,c;ow={};for(s in d)for(c in d[s])ow[c]=d[s][c].onWrite;nrf(["s",d,o]);},
updateServices:function(d){nrf(["u",d]);},setSecurity:function(o){nrf(["k",o]);},setAdvertising:function(d,o){nrf(["a",d,o]);},
disconnect:function(){nrf(["d"]);},sleep:function(){nrf(["z"]);},wake:function(){nrf(["w"]);}};
global.digitalWrite=function(p,v){rec([${REC.pin},num(p),v?1:0]);};
global.digitalRead=function(p){var n=num(p);return n in lv?level(n):dr(p);};
global.setWatch=function(f,p,o){var w={i:++wid,p:num(p),f:f,e:0,r:false,d:0,s:0,l:undefined,t:0,q:0,u:0},e;
if(typeof o=="object"){w.r=!!o.repeat;w.d=o.debounce>0?o.debounce:0;e=o.edge;w.e=e=="rising"||e>0?1:e=="falling"||e<0?-1:0;}else w.r=!!o;
w.s=w.p in lv?level(w.p):0;ws.push(w);return w.i;};
global.clearWatch=function(id){for(var i=ws.length-1;i>=0;i--)if(!arguments.length||ws[i].i==id){if(ws[i].t)clearTimeout(ws[i].t);ws.splice(i,1);}};
global.SPI=function(){};
SPI.prototype.setup=function(o){this.k=num(o.sck);this.m=num(o.mosi);this.o=((o.mode|0)&3)|(o.order=="lsb"?4:0);};
SPI.prototype.write=function(d){if(typeof d=="number")d=[d];rec([${REC.spi},this.k,this.m,this.o,d.length&255,d.length>>8],d);};
SPI.prototype.send=function(d){this.write(d);return typeof d=="number"?0:new Uint8Array(d.length);};
var cab=Graphics.createArrayBuffer;
Graphics.createArrayBuffer=function(w,h,b,o){var g=cab(w,h,b,o),c=g.clear,s=g.drawString;
g.clear=function(){rec([${REC.clear}]);return c.apply(g,arguments);};
g.drawString=function(t,x,y){t=String(t);rec([${REC.text},x&255,(x>>8)&255,y&255,(y>>8)&255,t.length],t);return s.apply(g,arguments);};
return g;};
var id=getSerial();rec([${REC.hello},id.length],id);
})();
`;
}
