/**
 * The transport test vectors of docs/dynamic-data.md ("Test vectors"), in one place:
 * frames.test.ts and payment.test.ts check the code reproduces every one of them and
 * that the document shows each, so the two cannot drift apart. The AEAD is
 * ChaCha20-Poly1305 (RFC 8439) from @noble/ciphers, an implementation independent of
 * the card's (firmware/core/aead.ts).
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import type { Aead } from "../../firmware/core/frames.ts";

/** The host's AEAD: @noble/ciphers ChaCha20-Poly1305, null on a bad tag. */
export const chachaAead: Aead = {
  seal: (key, nonce, aad, plaintext) => chacha20poly1305(key, nonce, aad).encrypt(plaintext),
  open: (key, nonce, aad, sealed) => {
    try {
      return chacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch {
      return null;
    }
  },
};

/** Inputs: a 20-byte card key 00..13, device id a0..af, pairing epoch 1, every expiry 1800000300 (2027-01-15 08:05 UTC). */
export const EXPIRY = 1800000300;

export const PAYMENT = {
  code: "428913",
  amount: 12345,
  currency: "EUR",
  exponent: 2,
  payee: "Caf\u00e9 du Parc",
  details: "Table 4, 2 covers",
  expiry: EXPIRY,
  txId: "101112131415161718191a1b1c1d1e1f",
};

export const VECTORS = {
  cardKey: "000102030405060708090a0b0c0d0e0f10111213",
  deviceId: "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
  epoch: 1,
  cardId: "3fc5af56",
  sealKey: "7084fa1058c1ccc9e58603528b3055e1b5450d4debfac4b83ce931c8305ca1b8",
  pairKey: "209540c20ff9edb26088d160d0691a731787742a001dfc3c5326821a4d4cb6b4",
  nonce: "320000000000000000000001",
  payment: "101112131415161718191a1b1c1d1e1f6b49d32c00000000303945555202063432383931330d436166c3a92064752050617263115461626c6520342c203220636f76657273",
  envelope: "01723fc5af56000000076b49d32c75bb649a630033778f45f36a85e21085a653a15e3a5cf933c3caa8fd87edca31afea92b90608fcd7c56522b8519a13e488d698fe1ce8513b6624f0e79f56d7d37019adbaed5de75e92bc8105de9d74ea8cb67599d7",
  frame: "01323fc5af56000000016b49d32c76f3f89d2004294c6151b6d9fbf5bcadb41f16ee4bdd8b9c5b13ad9310accd116c0c7236d99419d39f14ef75d5878d10e13e26b916abea17933a15348279091f7bd62a5a657ec23418cc226dc4aa8c01236989234b53135598fab9cfc28fcec58dd8a0a3bbe5d86101293f24903cbd2a9f5a33",
  fragments20: [
    "0001323fc5af56000000016b49d32c76f3f89d20",
    "0104294c6151b6d9fbf5bcadb41f16ee4bdd8b9c",
    "025b13ad9310accd116c0c7236d99419d39f14ef",
    "0375d5878d10e13e26b916abea17933a15348279",
    "04091f7bd62a5a657ec23418cc226dc4aa8c0123",
    "056989234b53135598fab9cfc28fcec58dd8a0a3",
    "86bbe5d86101293f24903cbd2a9f5a33",
  ],
  fragments50: [
    "0001323fc5af56000000016b49d32c76f3f89d2004294c6151b6d9fbf5bcadb41f16ee4bdd8b9c5b13ad9310accd116c0c72",
    "0136d99419d39f14ef75d5878d10e13e26b916abea17933a15348279091f7bd62a5a657ec23418cc226dc4aa8c0123698923",
    "824b53135598fab9cfc28fcec58dd8a0a3bbe5d86101293f24903cbd2a9f5a33",
  ],
  grant: "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00000001",
  grantEnvelope: "01713fc5af56000000066b49d32ceb26936a08685caab9170bfdab6292db40167840c13962dd3ac26ac1104f14d577f5d2fd",
  pairFrame: "01113fc5af56000000006b49d32c01713fc5af56000000066b49d32ceb26936a08685caab9170bfdab6292db40167840c13962dd3ac26ac1104f14d577f5d2fd",
  hello: "010100000000000000006b49d32c",
  ack: "01803fc5af56000000016b49d32c",
  error: "01813fc5af5600000000000000000303",
};
