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
  cardId: "0f1d849b",
  sealKey: "1d0c2ac17a1ed2a033880921f2fc85efbf7b261a6a0bbc0aa1c6c1687773ae28",
  pairKey: "b9f0cb2c9e58174f5ce3a2e92bf1689c0b6d52bfd42d35ceda1665f2776468b9",
  nonce: "320000000000000000000001",
  payment: "101112131415161718191a1b1c1d1e1f6b49d32c00000000303945555202063432383931330d436166c3a92064752050617263115461626c6520342c203220636f76657273",
  envelope: "01720f1d849b000000076b49d32c8194100f41e10b9f6bfbf135448abeebfb132f4b2c4c79b56daa307c3b65f45b4545afd32dcb729c0e5fd42f3834c1956b18dc00d2568df04f339fc47d479221749836926ba853267da884dcf79586a121bd1922ae",
  frame: "01320f1d849b000000016b49d32ca39d1c141dfcb2550461c5d261bfc82b7112d0f7979f7f9d6ff1f37271a50923a456f794ddb4aec029e742a5d83d23b95a6da1086b427428961981a25d7d1db431d2caf24094c6ac9029c32bc25ca074229e04d6029f55312b0baf1b7406470501d3bd384b1502583382a80374827ba20d442c",
  fragments20: [
    "0001320f1d849b000000016b49d32ca39d1c141d",
    "01fcb2550461c5d261bfc82b7112d0f7979f7f9d",
    "026ff1f37271a50923a456f794ddb4aec029e742",
    "03a5d83d23b95a6da1086b427428961981a25d7d",
    "041db431d2caf24094c6ac9029c32bc25ca07422",
    "059e04d6029f55312b0baf1b7406470501d3bd38",
    "864b1502583382a80374827ba20d442c",
  ],
  fragments50: [
    "0001320f1d849b000000016b49d32ca39d1c141dfcb2550461c5d261bfc82b7112d0f7979f7f9d6ff1f37271a50923a456f7",
    "0194ddb4aec029e742a5d83d23b95a6da1086b427428961981a25d7d1db431d2caf24094c6ac9029c32bc25ca074229e04d6",
    "82029f55312b0baf1b7406470501d3bd384b1502583382a80374827ba20d442c",
  ],
  grant: "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00000001",
  grantEnvelope: "01710f1d849b000000066b49d32cdbda4cd7f7d2be0133b34ba5d38a05609745e8e44e6448772ac741d44f51b457d79187a3",
  pairFrame: "01110f1d849b000000006b49d32c01710f1d849b000000066b49d32cdbda4cd7f7d2be0133b34ba5d38a05609745e8e44e6448772ac741d44f51b457d79187a3",
  hello: "010100000000000000006b49d32c",
  ack: "01800f1d849b000000016b49d32c",
  error: "01810f1d849b00000000000000000303",
};
