/**
 * The program crosscheck.ts runs on the Espruino interpreter: every case,
 * its buffer printed as base64 in chunks (small strings: the 2,630-variable
 * build has no room for one 7 KB string).
 */
import { CASES, type GraphicsFactory } from "./cases.ts";

declare const Graphics: GraphicsFactory;
declare const E: { toString(data: Uint8Array): string };
declare function print(text: string): void;

const CHUNK = 300; // a multiple of 3: the chunks' base64 joins into the whole buffer's
for (let i = 0; i < CASES.length; i++) {
  const r = CASES[i].run(Graphics, atob);
  print("CASE\t" + CASES[i].name + "\t" + r.values.join(","));
  const n = r.g.buffer.byteLength;
  for (let off = 0; off < n; off += CHUNK) {
    print("DATA\t" + btoa(E.toString(new Uint8Array(r.g.buffer, off, Math.min(CHUNK, n - off)))));
  }
}
print("DONE");
