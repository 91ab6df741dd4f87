/**
 * The transport test vectors of docs/dynamic-data.md ("Test vectors"), in one place:
 * frames.test.ts and payment.test.ts check the code reproduces every one of them and
 * that the document shows each, so the two cannot drift apart. The AEAD that seals
 * them is the reference of inkcard/etm/v1 on node:crypto (etm-reference.ts), an
 * implementation independent of the card's (firmware/core/aead.ts).
 */
export { referenceAead } from "./etm-reference.ts";

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
  envelope: "01723fc5af56000000076b49d32c4259da2a4afc99f06dff0d394322097b0199a17977e82da5ff8dfe7e32859c4cad8959be615de4e8abf796db8a0d303a0bc84c7b45003b7dd4508c94ee1096d1c5ab17b0614ee4d821ebbb0180af37279707c74701",
  frame: "01323fc5af56000000016b49d32c22e59de2b16597f0a7f49efb3a462763483a19ba6ccba8d9df318bb8e41595aca7a1a4b9c94734a4d0b529bc375451bc1cf59a2d12a3ff7005c7fe9fef61120c0a9513bf34b4d72121f7ba570864ae0bcdb8bb8f7313c09ddbed138d07fe51d57444f81780fe3d800e8682bd191f7e79471095",
  fragments20: [
    "0001323fc5af56000000016b49d32c22e59de2b1",
    "016597f0a7f49efb3a462763483a19ba6ccba8d9",
    "02df318bb8e41595aca7a1a4b9c94734a4d0b529",
    "03bc375451bc1cf59a2d12a3ff7005c7fe9fef61",
    "04120c0a9513bf34b4d72121f7ba570864ae0bcd",
    "05b8bb8f7313c09ddbed138d07fe51d57444f817",
    "8680fe3d800e8682bd191f7e79471095",
  ],
  fragments50: [
    "0001323fc5af56000000016b49d32c22e59de2b16597f0a7f49efb3a462763483a19ba6ccba8d9df318bb8e41595aca7a1a4",
    "01b9c94734a4d0b529bc375451bc1cf59a2d12a3ff7005c7fe9fef61120c0a9513bf34b4d72121f7ba570864ae0bcdb8bb8f",
    "827313c09ddbed138d07fe51d57444f81780fe3d800e8682bd191f7e79471095",
  ],
  grant: "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00000001",
  grantEnvelope: "01713fc5af56000000066b49d32cfbe8cf7df54f017dd71c868af156ff8ca784ac7460d891ed1d9dd43681789d482b3db956",
  pairFrame: "01113fc5af56000000006b49d32c01713fc5af56000000066b49d32cfbe8cf7df54f017dd71c868af156ff8ca784ac7460d891ed1d9dd43681789d482b3db956",
  hello: "010100000000000000006b49d32c",
  ack: "01803fc5af56000000016b49d32c",
  error: "01813fc5af5600000000000000000303",
};
