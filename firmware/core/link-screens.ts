/**
 * The link's screens, by number: core/link.ts asks for one through its
 * `screen` option, and whoever holds the panel draws it (screens.ts has the
 * drawings). A module of its own, so that the link does not take screens.ts,
 * its fonts and drawing, with it.
 */
export const LINK_BLANK = 0;
export const LINK_PAYMENT = 1;
export const LINK_ANSWER = 2;
export const LINK_DECLINED = 3;
export const LINK_PASSKEY = 4;
