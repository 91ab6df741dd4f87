/**
 * The globals an Espruino card offers (2v2x, nRF52), and nothing else.
 * Only what the firmware uses is declared: add a declaration here, with the
 * Espruino reference behaviour in mind, before using a new global. The build
 * gate (host-tools/build/gate.ts) holds the matching allow-list.
 */

/** A pin: Espruino accepts a name ("D17") or a pin number wherever a pin is taken. */
type Pin = string | number;

interface SetWatchEvent {
  /** Pin state after the edge (true = high). */
  state: boolean;
  /** Time of the edge, seconds (getTime()). */
  time: number;
  /** Time of the previous edge on this pin, seconds. */
  lastTime: number;
}
interface SetWatchOptions {
  repeat?: boolean;
  edge?: "rising" | "falling" | "both";
  /** Debounce in milliseconds. */
  debounce?: number;
  irq?: boolean;
  data?: Pin;
}
declare function setWatch(fn: (e: SetWatchEvent) => void, pin: Pin, options?: SetWatchOptions): number;
declare function clearWatch(id?: number): void;
declare function digitalWrite(pin: Pin, value: number | boolean): void;
declare function digitalRead(pin: Pin): number;
declare function pinMode(pin: Pin, mode: "input" | "input_pullup" | "input_pulldown" | "output" | "opendrain" | "auto"): void;

declare function setTimeout(fn: () => void, ms: number): number;
declare function clearTimeout(id?: number): void;
declare function setInterval(fn: () => void, ms: number): number;
declare function clearInterval(id?: number): void;

/** Seconds since 1970 as a float (the RTC). */
declare function getTime(): number;
declare function setTime(seconds: number): void;
/** The chip's unique serial number, as a hex string. */
declare function getSerial(): string;
declare function print(...text: any[]): void;
/** Base64 to a string of bytes, one character per byte (fonts for Graphics.setFontCustom). */
declare function atob(base64: string): string;

interface Console {
  log(...text: any[]): void;
}
declare var console: Console;

interface MemoryInfo {
  free: number;
  usage: number;
  total: number;
  history: number;
  gc: number;
  gctime: number;
  blocksize?: number;
}
interface Process {
  version: string;
  env: { [key: string]: any };
  memory(gc?: boolean): MemoryInfo;
}
declare var process: Process;

interface SPISetup {
  sck?: Pin;
  mosi?: Pin;
  miso?: Pin;
  baud?: number;
  mode?: number;
  order?: "msb" | "lsb";
}
declare class SPI {
  constructor();
  setup(options: SPISetup): void;
  /** Write bytes; the last argument may be a chip-select pin. */
  write(...data: Array<number | string | Uint8Array | number[] | Pin>): void;
  send(data: number | string | Uint8Array | number[], cs?: Pin): any;
}

interface GraphicsArrayBufferOptions {
  zigzag?: boolean;
  vertical_byte?: boolean;
  msb?: boolean;
  color_order?: string;
}
declare class Graphics {
  static createArrayBuffer(width: number, height: number, bpp: number, options?: GraphicsArrayBufferOptions): Graphics;
  buffer: ArrayBuffer;
  getWidth(): number;
  getHeight(): number;
  clear(reset?: boolean): Graphics;
  setColor(color: number): Graphics;
  setBgColor(color: number): Graphics;
  setFontCustom(bitmap: string, firstChar: number, widths: string | number, height: number): Graphics;
  setFontAlign(x: number, y?: number, rotation?: number): Graphics;
  drawString(text: string, x: number, y: number, solid?: boolean): Graphics;
  stringWidth(text: string): number;
  fillRect(x1: number, y1: number, x2: number, y2: number): Graphics;
  drawRect(x1: number, y1: number, x2: number, y2: number): Graphics;
  drawLine(x1: number, y1: number, x2: number, y2: number): Graphics;
  setPixel(x: number, y: number, color?: number): Graphics;
  setClipRect(x1: number, y1: number, x2: number, y2: number): Graphics;
}

interface StorageModule {
  /** A file's contents as a string, or undefined. */
  read(name: string, offset?: number, length?: number): string | undefined;
  /** A file's contents without copying (memory-mapped flash on nRF52), or undefined. */
  readArrayBuffer(name: string): ArrayBuffer | undefined;
  /** Write data at offset; size is the whole file's size when it is created. Returns false on failure. */
  write(name: string, data: string | ArrayBuffer | Uint8Array | number[], offset?: number, size?: number): boolean;
  erase(name: string): void;
  list(pattern?: RegExp | string): string[];
  getFree(): number;
  compact(): void;
  hash(pattern?: RegExp | string): number;
}
interface CryptoModule {
  SHA1(data: string | ArrayBuffer | Uint8Array): ArrayBuffer;
  SHA256(data: string | ArrayBuffer | Uint8Array): ArrayBuffer;
  SHA512?(data: string | ArrayBuffer | Uint8Array): ArrayBuffer;
}
declare function require(name: "Storage"): StorageModule;
declare function require(name: "crypto"): CryptoModule;

interface EspruinoE {
  /** Run fn on every kill()/reset (power-down hook), at init, or when E.emit(event) is called (queued, runs once the caller returns). */
  on(event: string, fn: () => void): void;
  /** New interpreter error flags (after the code that raised them stopped), e.g. "MEMORY": out of memory, the running code was interrupted. */
  on(event: "errorFlag", fn: (flags: string[]) => void): void;
  /** The error flags raised since the last call (which clears them). */
  getErrorFlags(): string[];
  /**
   * Start the watchdog: the chip resets unless it is kicked within timeout seconds. isAuto
   * (default true): Espruino kicks it whenever it returns to its idle loop. Once started it runs
   * until the chip resets (nRF52). Does nothing on the Linux build.
   */
  enableWatchdog(timeout: number, isAuto?: boolean): void;
  kickWatchdog(): void;
  getBattery?(): number;
  setPassword(password?: string): void;
  lockConsole(): void;
  setConsole(device: string | null, options?: { force?: boolean }): void;
  toString(data: ArrayBuffer | Uint8Array | number[]): string;
  toUint8Array(data: string): Uint8Array;
  CRC32(data: string | ArrayBuffer | Uint8Array): number;
  getTemperature(): number;
}
declare var E: EspruinoE;

interface NRFModule {
  setServices(services: any, options?: any): void;
  updateServices(services: any): void;
  setSecurity(options: { mitm?: boolean; display?: boolean; passkey?: string }): void;
  on(event: "connect" | "disconnect" | "passkey", listener: (arg: any) => void): void;
  setAdvertising(data: any, options?: any): void;
  disconnect(): void;
  sleep(): void;
  wake(): void;
}
declare var NRF: NRFModule;

declare function reset(clearFlash?: boolean): void;
declare function load(file?: string): void;
