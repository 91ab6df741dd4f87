/**
 * The card's GATT service (docs/dynamic-data.md, "The card's service") on
 * Espruino's NRF: LINK_WRITE takes the phone's fragments, LINK_NOTIFY sends
 * the card's. Nothing is readable, and there is no console over Bluetooth.
 */
import { LINK_NOTIFY, LINK_SERVICE, LINK_WRITE, MAX_WRITE } from "../core/frames";

/**
 * Declare the service once, at boot: writes only on a link encrypted with MITM protection
 * (bonding shows a passkey on the e-ink), onWrite({data}) per write.
 */
export function declareLinkService(onWrite: (evt: { data: ArrayBuffer }) => void): void {
  const chars: Record<string, object> = {};
  chars[LINK_WRITE] = { writable: true, maxLen: MAX_WRITE, onWrite: onWrite, security: { write: { encrypted: true, mitm: true } } };
  chars[LINK_NOTIFY] = { notify: true, maxLen: MAX_WRITE };
  const services: Record<string, object> = {};
  services[LINK_SERVICE] = chars;
  NRF.setServices(services, { uart: false });
  NRF.setSecurity({ mitm: true, display: true });
}

/** One notification on LINK_NOTIFY; nothing happens when no phone is connected or subscribed. */
export function notify(bytes: Uint8Array): void {
  const chars: Record<string, object> = {};
  chars[LINK_NOTIFY] = { value: bytes, notify: true };
  const services: Record<string, object> = {};
  services[LINK_SERVICE] = chars;
  try {
    NRF.updateServices(services);
  } catch (e) {
    // Not connected, or the stack's queue is full: a lost notification, which the protocol expects.
  }
}
