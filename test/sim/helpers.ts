/** Boards for the simulator's tests: the real board config, a fresh flash. */
import type { BoardConfig } from "../../firmware/board-config.ts";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { Board, type BoardOptions } from "../../sim/board/board.ts";

let config: BoardConfig | undefined;

export async function boardConfig(): Promise<BoardConfig> {
  config ??= await loadBoardConfig();
  return config;
}

export async function newBoard(options: Partial<BoardOptions> = {}): Promise<Board> {
  return new Board({ config: await boardConfig(), ...options });
}

/** A board that boots `program` from .bootcde, as a flashed card does. */
export async function flashedBoard(program: string, options: Partial<BoardOptions> = {}): Promise<Board> {
  const board = await newBoard({ ...options, unpowered: true });
  board.storage.write(".bootcde", program);
  board.restorePower();
  return board;
}

/** Console output since the board was made, with Espruino's \r\n as \n. */
export function out(board: Board): string {
  return board.console.transcript().replace(/\r\n/g, "\n");
}
