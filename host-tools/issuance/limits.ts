/**
 * The bounds of a card's code parameters, in one place: the issuer's HTTP
 * schemas and its checks (issuer/http.ts, issuer/issuance.ts,
 * issuer/service.ts), the provisioning tool's and the simulator's options
 * (provision/command.ts, sim/command.ts) all read them from here. The digit
 * bounds and the defaults are the card's own (firmware/core), so a value one
 * side accepts is one the card can show. The issuer's windows (look-ahead,
 * resync, lock-out) are its policy, bounded in issuer/policy.ts.
 */
export { MAX_DIGITS, MIN_DIGITS } from "../../firmware/core/otp.ts";
export { DEFAULT_DIGITS, DEFAULT_TIME_STEP } from "../../firmware/core/dcvv.ts";

/** The longest time step a card is issued with: a day. */
export const MAX_STEP_SECONDS = 86400;
