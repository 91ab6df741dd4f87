/**
 * What the issuer keeps about a card, and the views of it it hands out.
 * The card's key is not here: it is derived from the master key on demand
 * (keys.ts) and never stored.
 */
import type { Algorithm, CardTerms, CardView, Mode, Status } from "../issuance/protocol.ts";
import type { Policy } from "./policy.ts";

/** The card view and package are the issuance protocol's (host-tools/issuance/protocol.ts). */
export type { Algorithm, CardView, Mode, ProvisioningPackage, Status } from "../issuance/protocol.ts";

export const MODES: readonly Mode[] = ["counter", "time"];
export const ALGORITHMS: readonly Algorithm[] = ["SHA1", "SHA256"];

/** The fields a verification or resync may change; written back as a whole. */
export interface CardState {
  blocked: boolean;
  /** Counter mode: the lowest counter still acceptable (one past the last accepted). */
  nextCounter: number;
  /** Time mode: the last accepted time step, -1 before the first. */
  lastStep: number;
  /** Time mode: learned clock drift of the card, in steps (card minus issuer). */
  drift: number;
  /** Consecutive failed verifies; a success, resync or unblock clears them. */
  failures: number;
  /** Milliseconds since 1970 of the last failed verify, 0 for none. */
  lastFailureAt: number;
  resyncFailures: number;
  lastResyncFailureAt: number;
}

export interface CardRecord extends CardState, CardTerms {
  /** Counter mode: the counter the card starts at (its first press). */
  startCounter: number;
  createdAt: number;
  /** Incremented on every change (PostgreSQL's UPDATE is conditional on it). */
  version: number;
}

export function stateOf(card: CardRecord): CardState {
  const { blocked, nextCounter, lastStep, drift, failures, lastFailureAt, resyncFailures, lastResyncFailureAt } = card;
  return { blocked, nextCounter, lastStep, drift, failures, lastFailureAt, resyncFailures, lastResyncFailureAt };
}

export function statusOf(card: CardState, policy: Policy): Status {
  if (card.blocked) return "blocked";
  return card.failures >= policy.lockAfter ? "locked" : "active";
}

/** The PAN with all but the BIN and the last four digits masked (PCI DSS 3.4). */
export function maskPan(pan: string): string {
  return pan.slice(0, 6) + "*".repeat(pan.length - 10) + pan.slice(-4);
}

export function viewOf(card: CardRecord, policy: Policy): CardView {
  return {
    id: card.id,
    pan: maskPan(card.pan),
    expiry: card.expiry,
    psn: card.psn,
    mode: card.mode,
    digits: card.digits,
    algorithm: card.algorithm,
    step: card.step,
    status: statusOf(card, policy),
    ...(card.mode === "counter" ? { counter: card.nextCounter } : { drift: card.drift }),
    failures: card.failures,
    createdAt: new Date(card.createdAt).toISOString(),
  };
}
