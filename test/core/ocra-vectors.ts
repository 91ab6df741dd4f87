/**
 * RFC 6287 appendix C: every test vector, for test/core/ocra.test.ts and,
 * the SHA-1/SHA-256 ones, test/card/ocra-espruino.test.ts. Keys are the
 * RFC's ASCII "1234567890..." of 20, 32 and 64 bytes; the PIN is "1234"
 * (its SHA-1 below); T is 0x132d0b6 minutes (1206446760 Unix seconds).
 */
export const PIN_1234_SHA1 = new Uint8Array(Buffer.from("7110eda4d09e062aa5e4a390b0a572ac0d2c0220", "hex"));

/** The RFC's key of n bytes: "1234567890" repeated, cut to n. */
export function ocraKey(n: number): Uint8Array {
  return new Uint8Array(Buffer.from("1234567890".repeat(7).slice(0, n), "latin1"));
}

const T = 0x132d0b6 * 60;

export interface OcraVector {
  suite: string;
  key: 20 | 32 | 64;
  cases: Array<{ q: string; r: string; c?: number; t?: number }>;
}

const digitsQ = (i: number) => String(i).repeat(8);

export const OCRA_VECTORS: OcraVector[] = [
  // C.1 one-way challenge-response
  {
    suite: "OCRA-1:HOTP-SHA1-6:QN08", key: 20,
    cases: ["237653", "243178", "653583", "740991", "608993", "388898", "816933", "224598", "750600", "294470"].map((r, i) => ({ q: digitsQ(i), r })),
  },
  {
    suite: "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1", key: 32,
    cases: ["65347737", "86775851", "78192410", "71565254", "10104329", "65983500", "70069104", "91771096", "75011558", "08522129"].map((r, c) => ({ q: "12345678", c, r })),
  },
  {
    suite: "OCRA-1:HOTP-SHA256-8:QN08-PSHA1", key: 32,
    cases: ["83238735", "01501458", "17957585", "86776967", "86807031"].map((r, i) => ({ q: digitsQ(i), r })),
  },
  {
    suite: "OCRA-1:HOTP-SHA512-8:C-QN08", key: 64,
    cases: ["07016083", "63947962", "70123924", "25341727", "33203315", "34205738", "44343969", "51946085", "20403879", "31409299"].map((r, c) => ({ q: digitsQ(c), c, r })),
  },
  {
    suite: "OCRA-1:HOTP-SHA512-8:QN08-T1M", key: 64,
    cases: ["95209754", "55907591", "22048402", "24218844", "36209546"].map((r, i) => ({ q: digitsQ(i), t: T, r })),
  },
  // C.2 mutual challenge-response: server computes over CLI|SRV, client over SRV|CLI
  {
    suite: "OCRA-1:HOTP-SHA256-8:QA08", key: 32,
    cases: [
      ...["28247970", "01984843", "65387857", "03351211", "83412541"].map((r, i) => ({ q: `CLI2222${i}SRV1111${i}`, r })),
      ...["15510767", "90175646", "33777207", "95285278", "28934924"].map((r, i) => ({ q: `SRV1111${i}CLI2222${i}`, r })),
      // C.3 plain signature, same suite and key
      ...["53095496", "04110475", "31331128", "76028668", "46554205"].map((r, i) => ({ q: `SIG1${i}000`, r })),
    ],
  },
  {
    suite: "OCRA-1:HOTP-SHA512-8:QA08", key: 64,
    cases: ["79496648", "76831980", "12250499", "90856481", "12761449"].map((r, i) => ({ q: `CLI2222${i}SRV1111${i}`, r })),
  },
  {
    suite: "OCRA-1:HOTP-SHA512-8:QA08-PSHA1", key: 64,
    cases: ["18806276", "70020315", "01600026", "18951020", "32528969"].map((r, i) => ({ q: `SRV1111${i}CLI2222${i}`, r })),
  },
  // C.3 plain signature with time
  {
    suite: "OCRA-1:HOTP-SHA512-8:QA10-T1M", key: 64,
    cases: ["77537423", "31970405", "10235557", "95213541", "65360607"].map((r, i) => ({ q: `SIG1${i}00000`, t: T, r })),
  },
];
