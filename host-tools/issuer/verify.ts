/**
 * The verification rules as pure functions of a card's record, the clock and
 * a code generator: no I/O, so the store can run them inside its transaction
 * and the tests can run them alone.
 *
 * A decision carries the card's new state (absent when nothing changes), the
 * audit outcome and the answer for the caller. Refusals that do not evaluate
 * the code (blocked, locked, backing off) change nothing: hammering a card
 * that refuses costs a guesser time without buying guesses. Nor do two
 * refusals that buy no guess: the card's last accepted code sent again (a
 * retry whose answer was lost, or a replay: it is still refused), and a
 * failed strong resync (see decideResync).
 */
import { timeStep } from "../../firmware/core/otp.ts";
import { stateOf, type CardRecord, type CardState, type Status } from "./card.ts";
import { backoffSeconds, resyncBackoffSeconds, strongResyncCodes, type Policy } from "./policy.ts";

export type Refusal = "mismatch" | "replay" | "backoff" | "locked" | "blocked";

export interface VerifyResult {
  ok: boolean;
  reason?: Refusal;
  /** Counter mode, on success: the counter the code belonged to. */
  counter?: number;
  /** Time mode, on success: the time step the code belonged to, and the drift learned. */
  step?: number;
  drift?: number;
  /** On "backoff": seconds until the card evaluates codes again. */
  retryAfter?: number;
  /** The card's status after this request, when it changed to locked. */
  status?: Status;
  /** On a resync's "backoff": a resync of this many codes is evaluated now (a strong proof). */
  strongCodes?: number;
}

export interface Decision<T> {
  state?: CardState;
  outcome: "ok" | Refusal;
  detail?: string;
  result: T;
}

/** The card's code for a counter or time step (hotp over the card's key). */
export type CodeAt = (counter: number) => string;

/**
 * Compared in time independent of where the codes differ (the length is
 * public: it is the card's digits). Code units, not bytes: equal strings have
 * equal code units, and nothing is allocated on the verify path.
 */
function same(expected: string, given: string): boolean {
  if (expected.length !== given.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}

function refuse(reason: Refusal, retryAfter?: number): Decision<VerifyResult> {
  return { outcome: reason, result: retryAfter === undefined ? { ok: false, reason } : { ok: false, reason, retryAfter } };
}

/** The card's last accepted code again: refused, but no failure (it tests no guess). */
const AGAIN: Decision<VerifyResult> = { outcome: "replay", detail: "the last accepted code again", result: { ok: false, reason: "replay" } };

export function decideVerify(card: CardRecord, code: string, nowMs: number, codeAt: CodeAt, policy: Policy): Decision<VerifyResult> {
  if (card.blocked) return refuse("blocked");
  if (card.failures >= policy.lockAfter) return refuse("locked");
  const wait = card.lastFailureAt + backoffSeconds(policy, card.failures) * 1000 - nowMs;
  if (card.failures > 0 && wait > 0) return refuse("backoff", Math.ceil(wait / 1000));

  const state = stateOf(card);
  let replay = false;
  if (card.mode === "counter") {
    const window = card.failures > 0 ? policy.lookAheadAfterFailure : policy.lookAhead;
    for (let c = card.nextCounter; c <= card.nextCounter + window; c++) {
      if (same(codeAt(c), code)) {
        state.nextCounter = c + 1;
        return accept(state, { ok: true, counter: c }, `counter=${c}`);
      }
    }
    if (card.nextCounter > card.startCounter && same(codeAt(card.nextCounter - 1), code)) return AGAIN;
    // Refused either way; tell a replay of a recent code apart for the audit trail.
    const oldest = Math.max(card.startCounter, card.nextCounter - 1 - policy.lookAhead);
    for (let c = card.nextCounter - 2; c >= oldest && !replay; c--) replay = same(codeAt(c), code);
  } else {
    const now = timeStep(nowMs / 1000, card.step);
    const centre = now + card.drift;
    // Nearest steps first: 0, -1, +1, -2, +2 ...; only steps after the last accepted one count.
    for (let i = 0; i <= 2 * policy.timeSkewSteps; i++) {
      const t = centre + (i & 1 ? -(i + 1) / 2 : i / 2);
      if (t < 0 || !same(codeAt(t), code)) continue;
      if (t <= card.lastStep) {
        replay = true;
        continue;
      }
      state.lastStep = t;
      state.drift = Math.max(-policy.maxDriftSteps, Math.min(policy.maxDriftSteps, t - now));
      return accept(state, { ok: true, step: t, drift: state.drift }, `step=${t} drift=${state.drift}`);
    }
    if (card.lastStep >= 0 && same(codeAt(card.lastStep), code)) return AGAIN;
  }
  state.failures = card.failures + 1;
  state.lastFailureAt = nowMs;
  const reason = replay ? "replay" : "mismatch";
  const locked = state.failures >= policy.lockAfter;
  return {
    state,
    outcome: reason,
    detail: `failures=${state.failures}${locked ? " locked" : ""}`,
    result: locked ? { ok: false, reason, status: "locked" } : { ok: false, reason },
  };
}

function accept(state: CardState, result: VerifyResult, detail: string): Decision<VerifyResult> {
  state.failures = 0;
  state.lastFailureAt = 0;
  return { state, outcome: "ok", detail, result };
}

/**
 * Document B's resynchronisation: the holder reads out several consecutive
 * codes. A counter card presses several times; finding the codes as
 * consecutive counters anywhere in the sync window puts the issuer's counter
 * after the last. A time card's codes are those of consecutive steps, the
 * last one now (within the skew, after the learned drift), read as they
 * come. It proves possession of the card (a guess of N codes of d digits
 * hits with odds of about positions / 10^(N*d)), so it also lifts a lock left
 * by failed verifies; it does not lift a block, which is the issuer's
 * decision.
 *
 * Two lengths (the service refuses others): policy.resyncCodes codes, whose
 * failures back off as verifies do, up to an hour; and a strong proof
 * (strongResyncCodes: 18 digits in all by default), evaluated whatever the
 * back-off or lock and whose failure changes nothing. A guesser can keep the
 * short resync backing off; he cannot keep the holder from the strong one,
 * and cannot guess 18 digits (docs/issuer-api.md derives both bounds).
 */
export function decideResync(card: CardRecord, codes: string[], nowMs: number, codeAt: CodeAt, policy: Policy): Decision<VerifyResult> {
  if (card.blocked) return refuse("blocked");
  const n = codes.length;
  const strongCodes = strongResyncCodes(policy, card.digits);
  const strong = n >= strongCodes;
  if (!strong) {
    const wait = card.lastResyncFailureAt + resyncBackoffSeconds(policy, card.resyncFailures) * 1000 - nowMs;
    if (card.resyncFailures > 0 && wait > 0) return { outcome: "backoff", result: { ok: false, reason: "backoff", retryAfter: Math.ceil(wait / 1000), strongCodes } };
  }

  const state = stateOf(card);
  const cleared = { failures: 0, lastFailureAt: 0, resyncFailures: 0, lastResyncFailureAt: 0 };
  const kind = strong ? " strong" : "";
  if (card.mode === "counter") {
    const lastStart = card.nextCounter + policy.syncWindow - n;
    for (let s = card.nextCounter; s <= lastStart; s++) {
      if (!same(codeAt(s), codes[0])) continue;
      let k = 1;
      while (k < n && same(codeAt(s + k), codes[k])) k++;
      if (k < n) continue;
      Object.assign(state, cleared, { nextCounter: s + n });
      return { state, outcome: "ok", detail: `counter=${s + n - 1} skipped=${s - card.nextCounter}${kind}`, result: { ok: true, counter: s + n - 1 } };
    }
  } else {
    const now = timeStep(nowMs / 1000, card.step);
    const centre = now + card.drift;
    for (let i = 0; i <= 2 * policy.timeSkewSteps; i++) {
      const t = centre + (i & 1 ? -(i + 1) / 2 : i / 2);
      if (t - n + 1 < 0 || t <= card.lastStep) continue;
      let k = 0;
      while (k < n && same(codeAt(t - n + 1 + k), codes[k])) k++;
      if (k < n) continue;
      const drift = Math.max(-policy.maxDriftSteps, Math.min(policy.maxDriftSteps, t - now));
      Object.assign(state, cleared, { lastStep: t, drift });
      return { state, outcome: "ok", detail: `step=${t} drift=${drift}${kind}`, result: { ok: true, step: t, drift } };
    }
  }
  if (strong) return { outcome: "mismatch", detail: "strong resync", result: { ok: false, reason: "mismatch" } };
  state.resyncFailures = card.resyncFailures + 1;
  state.lastResyncFailureAt = nowMs;
  return { state, outcome: "mismatch", detail: `resyncFailures=${state.resyncFailures}`, result: { ok: false, reason: "mismatch" } };
}
