import { PressRig } from "./card/press-rig.ts";
const rig = await PressRig.start();
console.log("shimVars", rig.shimVars);
await rig.settle();
let prevRefr = (await rig.panel()).refreshes;
for (let it = 0; it < Number(process.argv[2] ?? 20); it++) {
  await rig.resetPeak();
  const gaps = [0, ...Array.from({ length: 9 }, () => 40 + Math.floor(Math.random() * 160))];
  await rig.taps(gaps);
  const log = await rig.settle();
  const peak = await rig.peak();
  const idle = await rig.idle();
  const errs = rig.accept();
  console.log(it, "peak", peak, "idle", idle, "refr", log.refreshes, log.refreshes < prevRefr ? "REBOOT" : "", "nf", log.scattered, errs.length ? JSON.stringify(errs) : "");
  prevRefr = log.refreshes;
}
await rig.close();
