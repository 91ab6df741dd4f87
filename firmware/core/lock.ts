/**
 * The console password, one rule for the card and the provisioning tool:
 * exactly 20 lower-case hex digits, what the tool derives and writes to the
 * lock file (host-tools/issuance/package.ts consolePassword) and what
 * E.setPassword takes (at most 20 characters). The card locks its console
 * only for such a file; anything else there is a cut-off write, ignored.
 *
 * A loop, not a regular expression: Espruino's have no counted repetition,
 * so /^[0-9a-f]{20}$/ never matches on the card (the build gate now rejects it).
 */

/** True when s is exactly 20 characters of 0-9 and a-f. */
export function isConsolePassword(s: unknown): s is string {
  if (typeof s !== "string" || s.length !== 20) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false; // 0-9, a-f
  }
  return true;
}
