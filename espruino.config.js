// The one description of the board. `inkcard build` validates it (a wrong or
// missing value fails the build, naming the key) and injects it into the
// bundle; the simulator wires its emulated board from it.
// Board: an nRF52832 module (MDBT42Q) with a Waveshare 1.54" V2 e-ink panel
// (SSD1681, 200x200) and one push button to GND.
export default {
  board: "MDBT42Q",
  hashes: ["SHA1", "SHA256"],
  serial: { port: "/dev/ttyUSB0", baud: 9600 },
  button: { pin: "D17", activeLow: true, debounceMs: 25, longPressMs: 1500 },
  panel: {
    model: "SSD1681",
    width: 200,
    height: 200,
    spi: { sck: "D26", mosi: "D27", baud: 4000000 },
    cs: "D28",
    dc: "D29",
    rst: "D30",
    busy: "D31",
    fullRefreshEvery: 10,
    wipeAfterMs: 60000,
  },
  storage: {
    profile: "ink.prof",
    counter: "ink.ctr",
    link: "ink.link",
  },
};
