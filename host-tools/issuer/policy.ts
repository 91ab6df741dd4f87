/**
 * The issuer's verification policy: windows, resynchronisation and the
 * back-off that bounds guessing. docs/issuer-api.md derives the guessing
 * bound from these defaults; test/issuer/policy.test.ts checks it.
 */
export interface Policy {
  /** Counter mode: counters after the expected one that a code may also match. */
  lookAhead: number;
  /**
   * Counter mode: the look-ahead while a failed verify is on record. Every
   * counter in the window is one more code a guess can hit; once someone has
   * guessed wrong, only the expected counter is accepted, and a holder whose
   * card ran ahead resynchronises.
   */
  lookAheadAfterFailure: number;
  /** Time mode: steps either side of the (drift-corrected) current step. */
  timeSkewSteps: number;
  /** Time mode: the learned drift is clamped to this many steps either way. */
  maxDriftSteps: number;
  /** Resync: how many consecutive codes the holder reads out. */
  resyncCodes: number;
  /** Resync: how many counters from the expected one are searched. */
  syncWindow: number;
  /** Consecutive failed verifies that lock a card. */
  lockAfter: number;
  /** After f consecutive failures the next verify waits base * 2^(f-1) seconds. */
  backoffBaseSeconds: number;
  /** The same doubling for failed resyncs of resyncCodes codes, capped here. */
  resyncBackoffMaxSeconds: number;
  /**
   * A resync whose codes hold at least this many digits in all (six 3-digit
   * codes at the default) is a strong proof: it is evaluated whatever the
   * back-off or lock, and its failure changes nothing. No one can hold a card
   * against its holder, who can always press more often than a guesser can
   * guess 18 digits (docs/issuer-api.md, "The holder's way back in").
   */
  strongProofDigits: number;
}

export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  lookAhead: 10,
  lookAheadAfterFailure: 0,
  timeSkewSteps: 1,
  maxDriftSteps: 12,
  resyncCodes: 3,
  syncWindow: 1000,
  lockAfter: 5,
  backoffBaseSeconds: 2,
  resyncBackoffMaxSeconds: 3600,
  strongProofDigits: 18,
});

const LIMITS: Record<keyof Policy, [number, number]> = {
  lookAhead: [0, 100],
  lookAheadAfterFailure: [0, 100],
  timeSkewSteps: [0, 10],
  maxDriftSteps: [0, 1000],
  resyncCodes: [2, 10],
  syncWindow: [1, 100000],
  lockAfter: [1, 100],
  backoffBaseSeconds: [0, 3600],
  resyncBackoffMaxSeconds: [0, 86400],
  // At most 10 codes of 3 digits (the HTTP schema's limit), at least a 10^-12 chance per try.
  strongProofDigits: [12, 30],
};

/** The defaults with overrides applied, each checked against its range. */
export function makePolicy(overrides: Partial<Policy> = {}): Policy {
  const p: Policy = { ...DEFAULT_POLICY };
  for (const [name, value] of Object.entries(overrides) as [keyof Policy, unknown][]) {
    if (value === undefined) continue;
    const range = LIMITS[name];
    if (!range) throw new Error(`unknown policy setting ${name}`);
    if (!Number.isInteger(value) || (value as number) < range[0] || (value as number) > range[1]) {
      throw new Error(`policy ${name} must be an integer ${range[0]}..${range[1]}`);
    }
    p[name] = value as number;
  }
  if (p.lookAheadAfterFailure > p.lookAhead) throw new Error("policy lookAheadAfterFailure must not exceed lookAhead");
  return p;
}

/** Seconds the card refuses verifies after `failures` consecutive failed ones (before the lock). */
export function backoffSeconds(policy: Policy, failures: number): number {
  return failures <= 0 ? 0 : policy.backoffBaseSeconds * 2 ** Math.min(failures - 1, 30);
}

/** Seconds the card refuses resyncs after `failures` consecutive failed ones. */
export function resyncBackoffSeconds(policy: Policy, failures: number): number {
  return Math.min(backoffSeconds(policy, failures), policy.resyncBackoffMaxSeconds);
}

/**
 * Codes in a strong resync of a card with `digits`-digit codes: at least
 * strongProofDigits digits, and always more codes than an ordinary resync,
 * which keeps its back-off (6 codes of 3 digits, 4 of 6 digits).
 */
export function strongResyncCodes(policy: Policy, digits: number): number {
  return Math.max(policy.resyncCodes + 1, Math.ceil(policy.strongProofDigits / digits));
}
