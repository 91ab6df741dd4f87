/**
 * The card's screens, drawn on an injected surface: on the card an Espruino
 * Graphics.createArrayBuffer(w, h, 1, {msb: true}), in tests and in the
 * simulator its emulation (sim/board/graphics.ts). Ink is colour 0 on paper
 * colour 1, so the buffer is the panel's RAM layout (types.ts, Panel).
 *
 * Layout is computed from the surface's size; what does not fit throws
 * rather than being cut off, so that a code is never shown partly.
 */
import type { CustomFont } from "./font";
import { digitsFont, smallFont } from "./font";
import { SCREEN_ANSWER, SCREEN_DECLINED, SCREEN_PAYMENT, SCREEN_PROFILE, type ScreenRequest } from "./screen-kinds";

/** The part of Espruino's Graphics the screens draw with. */
export interface Surface {
  getWidth(): number;
  getHeight(): number;
  setColor(color: number): void;
  setBgColor(color: number): void;
  clear(): void;
  setFontCustom(bitmap: string, firstChar: number, widths: string, height: number): void;
  setFontAlign(x: number, y: number): void;
  drawString(text: string, x: number, y: number): void;
  stringWidth(text: string): number;
  fillRect(x1: number, y1: number, x2: number, y2: number): void;
}

/** Base64 to a string of bytes, as setFontCustom takes fonts: atob on the card. */
export type Decode = (base64: string) => string;

export const MIN_CODE_DIGITS = 3;
export const MAX_CODE_DIGITS = 10;

const INK = 0;
const PAPER = 1;
/** Blank border kept on every side. */
const MARGIN = 6;
/** The digits font is drawn at half resolution (font.ts: 420 bytes, not 1,680), or at a third for short codes. */
const DIGIT_SCALE = 2;
const LINE_GAP = 10;
const HINT = "Do not share this code";

/** A font decoded for setFontCustom. */
interface Font {
  bitmap: string;
  widths: string;
  first: number;
  height: number;
}

function load(decode: Decode, f: CustomFont): Font {
  return { bitmap: decode(f.bitmap), widths: decode(f.widths), first: f.first, height: f.height };
}

function setFont(s: Surface, f: Font, scale: number): void {
  // setFontCustom's height carries the scale factor in bits 8-15.
  s.setFontCustom(f.bitmap, f.first, f.widths, f.height | (scale << 8));
}

/** Sets f at the largest scale up to maxScale at which text fits width; returns the line height. */
function fit(s: Surface, f: Font, text: string, maxScale: number, width: number): number {
  for (let scale = maxScale; scale >= 1; scale--) {
    setFont(s, f, scale);
    if (s.stringWidth(text) <= width) return f.height * scale;
  }
  throw new Error("text does not fit the screen: " + text);
}

/** Throws unless text is 1..40 characters of printable ASCII (what the small font has). */
export function checkText(text: string, what: string): void {
  if (typeof text !== "string" || text.length < 1 || text.length > 40) throw new Error(what + " must be 1..40 characters");
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 32 || c > 126) throw new Error(what + " must be printable ASCII");
  }
}

/** Throws unless code is MIN_CODE_DIGITS..MAX_CODE_DIGITS decimal digits. Never puts the code in the message. */
export function checkCode(code: string): void {
  if (typeof code !== "string" || code.length < MIN_CODE_DIGITS || code.length > MAX_CODE_DIGITS) {
    throw new Error("code must be " + MIN_CODE_DIGITS + ".." + MAX_CODE_DIGITS + " digits");
  }
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    if (c < 48 || c > 57) throw new Error("code must be decimal digits");
  }
}

/** Paper everywhere, ink from now on. */
function begin(s: Surface): void {
  s.setBgColor(PAPER);
  s.clear();
  s.setColor(INK);
  s.setFontAlign(0, -1); // every line is centred horizontally, placed by its top
}

/** The idle screen: nothing at all (the code wiped). */
export function drawBlankScreen(s: Surface): void {
  begin(s);
}

/**
 * The code in big digits between a caption (at the top, above a rule) and a
 * hint (at the bottom). Digits are 48 pixels tall, 72 when the code fits a
 * line at that size (3 or 4 digits on a 200-pixel panel). A code too long for
 * one line is split in two, the longer half first: 10 digits are 2 lines of 5.
 */
export function drawCodeScreen(s: Surface, decode: Decode, code: string, caption: string): void {
  checkCode(code);
  checkText(caption, "caption");
  const w = s.getWidth();
  const h = s.getHeight();
  const cx = w >> 1;
  const room = w - 2 * MARGIN;
  begin(s);

  const small = load(decode, smallFont());
  const captionHeight = fit(s, small, caption, 2, room);
  s.drawString(caption, cx, MARGIN);
  const ruleY = MARGIN + captionHeight + 2;
  s.fillRect(MARGIN, ruleY, w - 1 - MARGIN, ruleY + 1);

  const hintHeight = fit(s, small, HINT, 1, room);
  const hintY = h - MARGIN - hintHeight;
  s.drawString(HINT, cx, hintY);

  // One line, larger if it fits (a 3-digit CVV at scale 3); else two lines.
  const digits = load(decode, digitsFont());
  const top = ruleY + 2;
  const bottom = hintY - 2;
  let first = code;
  let second = "";
  let scale = DIGIT_SCALE + 1;
  setFont(s, digits, scale);
  if (s.stringWidth(code) > room || digits.height * scale > bottom - top) {
    scale = DIGIT_SCALE;
    setFont(s, digits, scale);
  }
  if (s.stringWidth(code) > room) {
    const split = (code.length + 1) >> 1;
    first = code.substring(0, split);
    second = code.substring(split);
    if (s.stringWidth(first) > room) throw new Error("code does not fit the screen");
  }
  const digitHeight = digits.height * scale;
  const blockHeight = second ? 2 * digitHeight + LINE_GAP : digitHeight;
  if (blockHeight > bottom - top) throw new Error("code does not fit the screen");
  const y = top + ((bottom - top - blockHeight) >> 1);
  s.drawString(first, cx, y);
  if (second) s.drawString(second, cx, y + digitHeight + LINE_GAP);
}

/** No valid profile: clear words, and never anything that looks like a code. */
export function drawNotIssuedScreen(s: Surface, decode: Decode): void {
  const w = s.getWidth();
  const h = s.getHeight();
  const cx = w >> 1;
  const room = w - 2 * MARGIN;
  begin(s);
  const small = load(decode, smallFont());
  const lines = ["NOT ISSUED", "No card profile", "Contact your card issuer"];
  const maxScale = [3, 2, 1];
  // Measure first, then centre the block vertically.
  const heights: number[] = [];
  let total = 0;
  for (let i = 0; i < lines.length; i++) {
    heights.push(fit(s, small, lines[i], maxScale[i], room));
    total += heights[i] + (i > 0 ? LINE_GAP : 0);
  }
  let y = (h - total) >> 1;
  for (let i = 0; i < lines.length; i++) {
    fit(s, small, lines[i], maxScale[i], room);
    s.drawString(lines[i], cx, y);
    y += heights[i] + LINE_GAP;
  }
}

// ---- The link's screens (document C, core/link.ts) ------------------------------------------

/** What the payment screen shows: every field already as the panel draws it (printable ASCII). */
export interface PaymentScreen {
  /** The amount with its decimal point and currency, e.g. "123.45 EUR". */
  amount: string;
  /** payment.ts panelText of the payee: 1..30 characters. */
  payee: string;
  /** panelText of the details: 0..90 characters, broken into lines here. */
  details: string;
  /** The one-time code, 4..10 digits. */
  code: string;
}

/** Characters of the small font on one line between the margins (6 pixels each). */
function lineChars(s: Surface): number {
  return Math.floor((s.getWidth() - 2 * MARGIN) / 6);
}

/**
 * Lines of text from top, centred, each at the largest scale up to its own
 * maximum that fits; returns the y below the last. Empty lines are skipped.
 */
function drawLines(s: Surface, small: Font, lines: string[], maxScale: number[], top: number): number {
  const cx = s.getWidth() >> 1;
  const room = s.getWidth() - 2 * MARGIN;
  let y = top;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]) continue;
    const h = fit(s, small, lines[i], maxScale[i], room);
    s.drawString(lines[i], cx, y);
    y += h + 2;
  }
  return y;
}

/** Digits centred in [top, bottom) at DIGIT_SCALE (a code here is at most 10 digits: two lines of 5). */
function drawDigits(s: Surface, decode: Decode, code: string, top: number, bottom: number): void {
  checkCode(code);
  const cx = s.getWidth() >> 1;
  const room = s.getWidth() - 2 * MARGIN;
  const digits = load(decode, digitsFont());
  setFont(s, digits, DIGIT_SCALE);
  let first = code;
  let second = "";
  if (s.stringWidth(code) > room) {
    const split = (code.length + 1) >> 1;
    first = code.substring(0, split);
    second = code.substring(split);
  }
  const dh = digits.height * DIGIT_SCALE;
  const block = second ? 2 * dh + LINE_GAP : dh;
  if (block > bottom - top || s.stringWidth(first) > room) throw new Error("code does not fit the screen");
  const y = top + ((bottom - top - block) >> 1);
  s.drawString(first, cx, y);
  if (second) s.drawString(second, cx, y + dh + LINE_GAP);
}

/** The hint at the bottom; returns its top. */
function drawHint(s: Surface, small: Font, hint: string): number {
  const h = fit(s, small, hint, 1, s.getWidth() - 2 * MARGIN);
  const y = s.getHeight() - MARGIN - h;
  s.drawString(hint, s.getWidth() >> 1, y);
  return y;
}

/**
 * A payment to confirm: the amount (large), a rule, the payee, the details in
 * up to three lines, the one-time code, and what the button does. Text must
 * be printable ASCII (panelText makes it so); details are broken every
 * lineChars characters, never cut (the payload's bound is three lines).
 */
export function drawPaymentScreen(s: Surface, decode: Decode, p: PaymentScreen): void {
  checkText(p.amount, "amount");
  checkText(p.payee, "payee");
  const per = lineChars(s);
  if (typeof p.details !== "string" || p.details.length > 3 * per) throw new Error("details must be at most " + 3 * per + " characters");
  for (let i = 0; i < p.details.length; i++) {
    const c = p.details.charCodeAt(i);
    if (c < 32 || c > 126) throw new Error("details must be printable ASCII");
  }
  begin(s);
  const small = load(decode, smallFont());
  let y = drawLines(s, small, [p.amount], [2], MARGIN);
  s.fillRect(MARGIN, y, s.getWidth() - 1 - MARGIN, y + 1);
  y += 4;
  const d = p.details;
  y = drawLines(s, small, [p.payee, d.substring(0, per), d.substring(per, 2 * per), d.substring(2 * per)], [1, 1, 1, 1], y);
  const hintY = drawHint(s, small, "Press: confirm  Hold: decline");
  drawDigits(s, decode, p.code, y, hintY - 2);
}

/** The transaction-bound answer after a confirm: sent to the phone, shown in case the phone cannot pass it on. */
export function drawAnswerScreen(s: Surface, decode: Decode, answer: string): void {
  begin(s);
  const small = load(decode, smallFont());
  const y = drawLines(s, small, ["CONFIRMED", "Answer sent to your phone"], [2, 1], MARGIN);
  drawDigits(s, decode, answer, y, drawHint(s, small, "Payment answer") - 2);
}

/** A long press declined the payment: no answer was made. */
export function drawDeclinedScreen(s: Surface, decode: Decode): void {
  begin(s);
  const small = load(decode, smallFont());
  drawLines(s, small, ["DECLINED", "No answer was made", "The payment is wiped"], [3, 1, 1], (s.getHeight() >> 1) - 30);
}

/** Bluetooth pairing: the passkey (6 digits) the phone asks for. */
export function drawPasskeyScreen(s: Surface, decode: Decode, passkey: string): void {
  begin(s);
  const small = load(decode, smallFont());
  const y = drawLines(s, small, ["PAIRING", "Enter on your phone"], [2, 1], MARGIN);
  drawDigits(s, decode, passkey, y, drawHint(s, small, "Only if you are pairing") - 2);
}

/** A profile named: a title ("WRITTEN", "CARD 2") and the profile's id, which the code screen shows too. */
export function drawProfileScreen(s: Surface, decode: Decode, lines: string[]): void {
  checkText(lines[0], "title");
  checkText(lines[1], "label");
  begin(s);
  drawLines(s, load(decode, smallFont()), lines, [3, 2], (s.getHeight() >> 1) - 30);
}

/** display.showScreen's function for every link screen but SCREEN_BLANK (display.wipe() draws that). */
export function drawLinkScreen(s: Surface, decode: Decode, arg: unknown): void {
  const a = arg as ScreenRequest;
  if (a.kind === SCREEN_PAYMENT) drawPaymentScreen(s, decode, a.value as PaymentScreen);
  else if (a.kind === SCREEN_ANSWER) drawAnswerScreen(s, decode, a.value as string);
  else if (a.kind === SCREEN_DECLINED) drawDeclinedScreen(s, decode);
  else if (a.kind === SCREEN_PROFILE) drawProfileScreen(s, decode, a.value as string[]);
  else drawPasskeyScreen(s, decode, a.value as string);
}
