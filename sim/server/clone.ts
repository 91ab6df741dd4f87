/**
 * A second card beside a running simulator, made from a copy of the first
 * card's flash (Flash.copy): what a clone of the card is, a flash dump
 * written into another chip. It runs the same boot code from that copy on a
 * board of its own, with the chip serial given (the same as the first
 * card's: a dump in a chip that lies about its serial) or its own, and
 * serves its own web server: the API, the page and the Bluetooth bridge, so
 * `inkcard phone ... --sim <its web>` and `inkcard verify-card` talk to it
 * as to the first. docs/personalisation.md, "What a copy can and cannot do".
 *
 * vm engine only (the espruino engine's flash is the interpreter's file).
 * No issuer of its own: the clone claims to be the first card.
 */
import { Board } from "../board/board.ts";
import type { Flash } from "../board/flash.ts";
import { cardState } from "./api.ts";
import { BoardCard } from "./card.ts";
import { ConsoleLog } from "./console-log.ts";
import { StateStream } from "./events.ts";
import { startWebServer } from "./server.ts";
import type { VmSim } from "./start.ts";

export interface CloneOptions {
  /** The clone chip's serial: default a fresh one (its own chip); pass the first card's for a chip that claims it. */
  serial?: string;
  /** The flash to boot from: default a copy of the first card's flash as it is now. */
  flash?: Flash;
  /** Keep the clone's virtual time in step with the wall clock (default true, as the simulator's). */
  liveClock?: boolean;
}

export interface CloneSim {
  web: string;
  board: Board;
  card: BoardCard;
  console: ConsoleLog;
  close(): Promise<void>;
}

export async function startClone(sim: VmSim, o: CloneOptions = {}): Promise<CloneSim> {
  if (sim.engine !== "vm") throw new Error("a clone needs the vm engine: its flash is copied from the board's");
  const flash = o.flash ?? sim.board.flash.copy();
  const board = new Board({ config: sim.config, flash, ...(o.serial !== undefined ? { serial: o.serial } : {}), unpowered: true });
  const log = new ConsoleLog();
  board.on("output", (bytes: string) => log.append(bytes));
  const card = new BoardCard(board);
  board.restorePower();
  // The RTC of a chip just powered: the clone's clock is set as a holder's phone would set it, to the first card's.
  board.setTime(sim.board.getTime());
  card.settle();
  const events = new StateStream(() => cardState(card, log), 100);
  const web = await startWebServer(
    {
      card,
      console: log,
      verify: undefined,
      events,
      ble: { ble: board.ble, settle: () => card.settle() },
      info: () => ({ card: null, digits: null, liveClock: o.liveClock !== false, serial: board.serial, engine: "vm", clone: true }),
    },
    0,
  );
  if (o.liveClock !== false) card.startLiveClock();
  return {
    web: web.url,
    board,
    card,
    console: log,
    async close() {
      card.stopLiveClock();
      await web.close();
      board.cutPower();
      flash.close();
    },
  };
}
