/**
 * What the phone's relay needs of a Bluetooth link to the card: the card's
 * GATT service (firmware/core/frames.ts LINK_SERVICE), one write
 * characteristic and one notify characteristic. Implemented over Web
 * Bluetooth (a real card from Chrome, or the `webbluetooth` package from
 * Node) and over the simulator's Bluetooth model (a WebSocket to
 * `inkcard sim`). The relay above it (relay.ts) is the same code everywhere,
 * so it must run in a browser: no Node imports here or in relay.ts.
 */
export interface CardTransport {
  /** The largest write the link takes (ATT MTU - 3): 20 until the phone knows better, at most 50 (MAX_WRITE). */
  readonly maxWrite: number;
  /** One write without response to LINK_WRITE: one fragment. Rejects if the link is down. */
  write(fragment: Uint8Array): Promise<void>;
  /** Each notification of LINK_NOTIFY, in order; one listener. */
  onNotify(listener: (fragment: Uint8Array) => void): void;
  /** Called once when the link drops (by either side). */
  onDisconnect(listener: () => void): void;
  /** Disconnects; resolves once the link is down. */
  close(): Promise<void>;
}
