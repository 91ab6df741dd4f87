// Runs on the Espruino interpreter after the ES5 build of firmware/hal/ssd1681.ts
// (which leaves the driver in `exports`). On Linux the pins are not emulated:
// BUSY reads 0, so every wait ends at once and only the reset timers take time.
// Prints what the test checks: updates finished, memory drift across them, the
// driver's own memory.
var UPDATES = 100;
var before = process.memory().usage;
var spi = new SPI();
spi.setup({ sck: "D26", mosi: "D27", baud: 4000000 });
var panel = new exports.Ssd1681({ spi: spi, cs: "D28", dc: "D29", rst: "D30", busy: "D31", width: 200, height: 200 });
var driverVars = process.memory().usage - before;
var frame = new Uint8Array(5000);
var shown = 0;
var first = 0;
function done() {
  shown++;
  if (shown === 1) first = process.memory().usage;
  if (shown < UPDATES) return panel.show(frame, shown % 5 === 0, done);
  print("done " + shown + " timeouts " + panel.timeouts);
  print("drift " + (process.memory().usage - first));
  print("driver vars " + driverVars);
}
panel.show(frame, true, done);
try {
  panel.show(frame, false, done);
} catch (e) {
  print("refused: " + e.message);
}
