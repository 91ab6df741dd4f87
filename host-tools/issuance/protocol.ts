/**
 * The issuance protocol's messages (docs/provisioning.md): what the issuer
 * answers on /v1/issuance (host-tools/issuer/issuance.ts serves it) and the
 * provisioning tool reads (host-tools/provision/issuer.ts), with the card
 * view and the provisioning package they carry. Types only: both sides
 * import them from here, neither from the other.
 */

export type Mode = "counter" | "time";
export type Algorithm = "SHA1" | "SHA256";

export type Status = "active" | "locked" | "blocked";

/** What a card is, fixed at issuance: the issuer's record of it (issuer/card.ts CardRecord) and its view share these. */
export interface CardTerms {
  id: string;
  pan: string;
  /** YYMM */
  expiry: string;
  /** PAN sequence number, 2 digits. */
  psn: string;
  mode: Mode;
  digits: number;
  algorithm: Algorithm;
  /** TOTP step in seconds (recorded for counter cards too; unused there). */
  step: number;
}

/** GET /v1/cards/{id}: status, no secrets. */
export interface CardView extends CardTerms {
  status: Status;
  /** Counter mode: the next counter the issuer expects. */
  counter?: number;
  /** Time mode: learned drift in steps. */
  drift?: number;
  failures: number;
  createdAt: string;
}

/** What issuance writes to the card; handed out once, in the response that creates the card. */
export interface ProvisioningPackage {
  cardId: string;
  mode: Mode;
  digits: number;
  algorithm: Algorithm;
  step: number;
  counter: number;
  /** The card key, hex. */
  key: string;
}

/** POST /v1/issuance: the card, blocked while pending, and what to write to the chip. */
export interface Begun {
  card: CardView;
  package: ProvisioningPackage;
  /** The caption the profile carries (captionOf the PAN). */
  caption: string;
  /** SHA-256 of the profile record the tool must write, hex. */
  digest: string;
  /** The card this one will replace once proven (a reissue). */
  replaces?: string;
}

/** GET /v1/issuance/chips/{serial}. */
export interface ChipStatus {
  chipSerial: string;
  issued?: { cardId: string; digest: string };
  pending?: { cardId: string; digest: string };
}

/** POST /v1/issuance/{id}/confirm and /password. */
export interface Confirmed {
  cardId: string;
  state: "issued";
  /** What the tool locks the card's console with (20 hex digits). Secret. */
  consolePassword: string;
}
