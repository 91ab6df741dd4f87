/**
 * Regular expressions as Espruino runs them: one rule set for both gates
 * (gate.ts on the source, bundle-gate.ts on the bundle). Espruino's matcher
 * (2v29) is a small backtracking one: characters, `.`, classes `[...]` (with
 * \d \D \w \W \s \S inside or out), `\x41`-style and control-character escapes
 * (\t \n \r \f \v \0), `^`, `$`, `*` and `+` after one character or class,
 * capturing groups without a quantifier, `|` outside groups, flags g and i.
 * Everything below fails there, mostly by not matching rather than by
 * throwing; each is proven on the interpreter by a claim in
 * test/build/espruino.test.ts.
 *
 * Not rejected, though it differs: `.` also matches line terminators on
 * Espruino (it matches any character). Write [^\n\r] where that matters.
 */

/** Every construct name this module reports. */
export const REGEX_CONSTRUCTS = [
  "regex counted repetition", "regex optional", "regex lazy quantifier", "regex quantified group",
  "regex alternation in group", "regex non-capturing group", "regex lookahead", "regex lookbehind",
  "regex named group", "regex backreference", "regex more than 9 groups", "regex word boundary",
  "regex unicode escape", "regex control escape", "regex property escape",
  "regex flag m", "regex flag s", "regex flag u", "regex flag v", "regex flag y", "regex flag d",
] as const;

export interface RegexProblem {
  /** Where, in the literal's text `/pattern/flags`: 1 + the index in the pattern, or the flag's place. */
  offset: number;
  construct: (typeof REGEX_CONSTRUCTS)[number];
  message: string;
}

/** Espruino keeps the first 9 groups of a match only. */
const MAX_GROUPS = 9;
const COUNTED = /^\{\d+(?:,\d*)?\}/;

const FLAG_MESSAGES: Record<string, string> = {
  m: "Espruino has no multiline flag m (^ and $ match only at the ends of the string): split the lines",
  s: "Espruino has no dotAll flag s (a syntax error there)",
  u: "Espruino has no unicode flag u (it ignores it: no code points, \\u{...} or \\p{...})",
  v: "Espruino has no unicodeSets flag v (a syntax error there)",
  y: "Espruino has no sticky flag y (it ignores it and searches the whole string)",
  d: "Espruino has no indices flag d (a syntax error there)",
};

/** The problems of one regular expression, its pattern as RegExp's `source` (a literal's text between the slashes). */
export function regexProblems(pattern: string, flags: string): RegexProblem[] {
  const out: RegexProblem[] = [];
  const report = (i: number, construct: RegexProblem["construct"], message: string) => out.push({ offset: i + 1, construct, message });

  /** An escape Espruino lacks, inside or outside a class; p[i] is the backslash. */
  const escape = (i: number, inClass: boolean) => {
    const n = pattern[i + 1] ?? "";
    if (n >= "1" && n <= "9") report(i, "regex backreference", `Espruino has no backreferences (\\${n} throws there${inClass ? ", even in a class" : ""})`);
    else if (n === "k" && pattern[i + 2] === "<" && !inClass) report(i, "regex backreference", "Espruino has no backreferences");
    else if ((n === "b" || n === "B") && !inClass) report(i, "regex word boundary", `Espruino has no word boundary \\${n}: test the neighbouring characters`);
    else if (n === "u") report(i, "regex unicode escape", "Espruino has no \\u escape in a regular expression: use \\xNN, or the character itself");
    else if (n === "c") report(i, "regex control escape", "Espruino has no \\c control escape: use \\xNN");
    else if (n === "p" || n === "P") report(i, "regex property escape", `Espruino has no \\${n}{...} property escape: list the characters in a class`);
  };

  let inClass = false;
  /** Groups open here, and capturing groups so far. */
  let depth = 0;
  let groups = 0;
  /** What a quantifier here would apply to. */
  let prev: "none" | "atom" | "group" | "quantifier" = "none";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (inClass) {
      if (c === "\\") escape(i++, true); // and step over the escaped character
      else if (c === "]") {
        inClass = false;
        prev = "atom";
      }
      continue;
    }
    const counted = c === "{" ? COUNTED.exec(pattern.slice(i)) : null;
    if (c === "*" || c === "+" || c === "?" || counted) {
      if (prev === "quantifier" && c === "?") report(i, "regex lazy quantifier", "Espruino has no lazy quantifiers (*? +? ?? {n}?)");
      else if (prev === "group") report(i, "regex quantified group", "Espruino cannot repeat a group (only one character or class): write it out");
      else if (counted) report(i, "regex counted repetition", `Espruino has no counted repetition ${counted[0]} (it never matches there): write the characters out, or check the length in code`);
      else if (c === "?") report(i, "regex optional", "Espruino has no ? quantifier (it never matches there): use an alternative, or test in code");
      if (counted) i += counted[0].length - 1;
      prev = "quantifier";
      continue;
    }
    prev = "atom";
    switch (c) {
      case "\\":
        escape(i++, false); // and step over the escaped character
        break;
      case "[":
        inClass = true;
        break;
      case "(": {
        const rest = pattern.slice(i + 1, i + 4);
        if (rest.startsWith("?:")) report(i, "regex non-capturing group", "Espruino has no (?:...) groups: use a capturing group, or none");
        else if (rest.startsWith("?=") || rest.startsWith("?!")) report(i, "regex lookahead", "Espruino has no lookahead (?= (?!: test in code");
        else if (rest.startsWith("?<=") || rest.startsWith("?<!")) report(i, "regex lookbehind", "Espruino has no lookbehind (?<= (?<!: test in code");
        else if (rest.startsWith("?<")) report(i, "regex named group", "Espruino has no named groups: use a numbered group");
        else if (rest.startsWith("?")) report(i, "regex non-capturing group", "Espruino has no (?...) groups");
        // A plain group or a named one captures; (?: and the lookarounds do not.
        const capturing = !rest.startsWith("?") || (rest.startsWith("?<") && rest[2] !== "=" && rest[2] !== "!");
        if (capturing && ++groups === MAX_GROUPS + 1) report(i, "regex more than 9 groups", `Espruino keeps only the first ${MAX_GROUPS} groups of a match`);
        // Step over the group's prefix: (?: (?= (?! (?<= (?<! (?<name>
        if (rest.startsWith("?<") && capturing) i = Math.max(i, pattern.indexOf(">", i));
        else if (rest.startsWith("?<")) i += 3;
        else if (rest.startsWith("?")) i += 2;
        depth++;
        prev = "none";
        break;
      }
      case ")":
        depth--;
        prev = "group";
        break;
      case "|":
        if (depth > 0) report(i, "regex alternation in group", "Espruino has no | inside a group (it restarts the whole match at the next alternative): put the alternatives at the top level, or test in code");
        prev = "none";
        break;
      case "^":
      case "$":
        prev = "none";
        break;
    }
  }
  for (let j = 0; j < flags.length; j++) {
    const f = flags[j] as string;
    const message = FLAG_MESSAGES[f];
    if (message) out.push({ offset: pattern.length + 2 + j, construct: `regex flag ${f}` as RegexProblem["construct"], message });
  }
  return out;
}
