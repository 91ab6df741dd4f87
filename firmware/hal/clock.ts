/** core's Clock: Espruino's getTime(), seconds since 1970 (set by the issuer's tools with setTime). */
import type { Clock } from "../core/types";

export const clock: Clock = function () {
  return getTime();
};
