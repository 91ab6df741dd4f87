/**
 * The link's screens, by number: core/link.ts asks for one (in the link
 * engine), the card's engine draws it (screens.ts drawLinkScreen). A module
 * of its own, so that the link engine does not take screens.ts, its fonts
 * and drawing, with it (build/common.ts shares a module both engines import).
 */
export const LINK_BLANK = 0;
export const LINK_PAYMENT = 1;
export const LINK_ANSWER = 2;
export const LINK_DECLINED = 3;
export const LINK_PASSKEY = 4;

/** A link screen waiting to be drawn: its number and its argument (screens.ts PaymentScreen, the answer, the passkey). */
export interface LinkScreen {
  kind: number;
  value: unknown;
}
