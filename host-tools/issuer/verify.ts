/**
 * The verification rules as pure functions of a card's record, the clock and
 * a code generator: no I/O, so the store can run them inside its transaction
 * and the tests can run them alone.
 *
 * A decision carries the card's new state (absent when nothing changes), the
 * audit outcome and the answer for the caller. Refusals that do not evaluate
 * the code (blocked, locked, backing off) change nothing: hammering a card
 * that refuses costs a guesser time without buying guesses.
 */
import { timeStep } from "../../firmware/core/otp.ts";
import { stateOf, type CardRecord, type CardState, type Status } from "./card.ts";
import { backoffSeconds, resyncBackoffSeconds, type Policy } from "./policy.ts";

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
    // Refused either way; tell a replay of a recent code apart for the audit trail.
    const oldest = Math.max(card.startCounter, card.nextCounter - 1 - policy.lookAhead);
    for (let c = card.nextCounter - 1; c >= oldest && !replay; c--) replay = same(codeAt(c), code);
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
 * Document B's resynchronisation for counter cards: the holder presses
 * several times and reads out the codes; finding them as consecutive
 * counters anywhere in the sync window puts the issuer's counter after the
 * last. It proves possession of the card (a guess of N codes of d digits hits
 * with odds of about syncWindow / 10^(N*d)), so it also lifts a lock left by
 * failed verifies; it does not lift a block, which is the issuer's decision.
 */
export function decideResync(card: CardRecord, codes: string[], nowMs: number, codeAt: CodeAt, policy: Policy): Decision<VerifyResult> {
  if (card.mode !== "counter") throw new Error("resync is for counter-mode cards");
  if (card.blocked) return refuse("blocked");
  const wait = card.lastResyncFailureAt + resyncBackoffSeconds(policy, card.resyncFailures) * 1000 - nowMs;
  if (card.resyncFailures > 0 && wait > 0) return refuse("backoff", Math.ceil(wait / 1000));

  const n = codes.length;
  const state = stateOf(card);
  const lastStart = card.nextCounter + policy.syncWindow - n;
  for (let s = card.nextCounter; s <= lastStart; s++) {
    if (!same(codeAt(s), codes[0])) continue;
    let k = 1;
    while (k < n && same(codeAt(s + k), codes[k])) k++;
    if (k < n) continue;
    Object.assign(state, { nextCounter: s + n, failures: 0, lastFailureAt: 0, resyncFailures: 0, lastResyncFailureAt: 0 });
    return { state, outcome: "ok", detail: `counter=${s + n - 1} skipped=${s - card.nextCounter}`, result: { ok: true, counter: s + n - 1 } };
  }
  state.resyncFailures = card.resyncFailures + 1;
  state.lastResyncFailureAt = nowMs;
  return { state, outcome: "mismatch", detail: `resyncFailures=${state.resyncFailures}`, result: { ok: false, reason: "mismatch" } };
}
