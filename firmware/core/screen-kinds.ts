/**
 * The card's screens, by number. The engines that decide what to show (the
 * card's, core/card.ts through engine.ts; the link's, core/link.ts) ask for
 * a screen with one of these and its argument; the panel engine
 * (panel-engine.ts, screens.ts) draws it once they are gone, so that what
 * decides and what draws are never in RAM together (firmware/main.ts). A
 * module of its own, so that asking does not take screens.ts, its fonts and
 * drawing, with it.
 */
/** The idle screen: what was shown is wiped. */
export const SCREEN_BLANK = 0;
/** A payment to decide on: screens.ts PaymentScreen. */
export const SCREEN_PAYMENT = 1;
/** The response code of a confirmed payment: a string. */
export const SCREEN_ANSWER = 2;
export const SCREEN_DECLINED = 3;
/** The Bluetooth pairing passkey: a string. */
export const SCREEN_PASSKEY = 4;
/** A dynamic code: CodeScreen. */
export const SCREEN_CODE = 5;
/** No valid profile: never a code. */
export const SCREEN_NOT_ISSUED = 6;
/** A profile named (written from the phone, or made active by a long press): two lines, [title, label]. */
export const SCREEN_PROFILE = 7;

/** A screen asked for and not yet drawn: its number and its argument. */
export interface ScreenRequest {
  kind: number;
  value: unknown;
}

/** SCREEN_CODE's argument. */
export interface CodeScreen {
  code: string;
  caption: string;
}
