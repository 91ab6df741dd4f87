/**
 * RFC 8439's test vectors (sections 2.3.2, 2.4.2, 2.5.2, 2.6.2, 2.8.2 and
 * appendix A.1 to A.5), as hex, for test/core/aead.test.ts and
 * test/card/aead-espruino.test.ts. Each is also checked against
 * @noble/ciphers there, so a slip in copying one shows.
 */
const SUNSCREEN = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.", "latin1").toString("hex");
const IETF =
  "416e79207375626d697373696f6e20746f20746865204945544620696e74656e6465642062792074686520436f6e7472696275746f7220666f72207075626c69" +
  "636174696f6e20617320616c6c206f722070617274206f6620616e204945544620496e7465726e65742d4472616674206f722052464320616e6420616e792073" +
  "746174656d656e74206d6164652077697468696e2074686520636f6e74657874206f6620616e204945544620616374697669747920697320636f6e7369646572" +
  "656420616e20224945544620436f6e747269627574696f6e222e20537563682073746174656d656e747320696e636c756465206f72616c2073746174656d656e" +
  "747320696e20494554462073657373696f6e732c2061732077656c6c206173207772697474656e20616e6420656c656374726f6e696320636f6d6d756e696361" +
  "74696f6e73206d61646520617420616e792074696d65206f7220706c6163652c207768696368206172652061646472657373656420746f";
const JABBERWOCKY =
  "2754776173206272696c6c69672c20616e642074686520736c6974687920746f7665730a446964206779726520616e642067696d626c6520696e207468652077" +
  "6162653a0a416c6c206d696d737920776572652074686520626f726f676f7665732c0a416e6420746865206d6f6d65207261746873206f757467726162652e";
const Z32 = "00".repeat(32);
const Z12 = "00".repeat(12);
const KEY_0_31 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_1C92 = "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0";
const ONE = "00".repeat(31) + "01";
const TWO_NONCE = "00".repeat(11) + "02";

/** ChaCha20: input XOR the key stream from block `counter` (a key stream block is the XOR of zeros). */
export const CHACHA_VECTORS = [
  { name: "2.3.2 block", key: KEY_0_31, nonce: "000000090000004a00000000", counter: 1, input: "00".repeat(64),
    output: "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4ed2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e" },
  { name: "2.4.2 encryption", key: KEY_0_31, nonce: "000000000000004a00000000", counter: 1, input: SUNSCREEN,
    output: "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8" +
      "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d" },
  { name: "A.1 #1", key: Z32, nonce: Z12, counter: 0, input: "00".repeat(64),
    output: "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586" },
  { name: "A.1 #2", key: Z32, nonce: Z12, counter: 1, input: "00".repeat(64),
    output: "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f" },
  { name: "A.1 #3", key: ONE, nonce: Z12, counter: 1, input: "00".repeat(64),
    output: "3aeb5224ecf849929b9d828db1ced4dd832025e8018b8160b82284f3c949aa5a8eca00bbb4a73bdad192b5c42f73f2fd4e273644c8b36125a64addeb006c13a0" },
  { name: "A.1 #4", key: "00ff" + "00".repeat(30), nonce: Z12, counter: 2, input: "00".repeat(64),
    output: "72d54dfbf12ec44b362692df94137f328fea8da73990265ec1bbbea1ae9af0ca13b25aa26cb4a648cb9b9d1be65b2c0924a66c54d545ec1b7374f4872e99f096" },
  { name: "A.1 #5", key: Z32, nonce: TWO_NONCE, counter: 0, input: "00".repeat(64),
    output: "c2c64d378cd536374ae204b9ef933fcd1a8b2288b3dfa49672ab765b54ee27c78a970e0e955c14f3a88e741b97c286f75f8fc299e8148362fa198a39531bed6d" },
  { name: "A.2 #1", key: Z32, nonce: Z12, counter: 0, input: "00".repeat(64),
    output: "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586" },
  { name: "A.2 #2", key: ONE, nonce: TWO_NONCE, counter: 1, input: IETF,
    output: "a3fbf07df3fa2fde4f376ca23e82737041605d9f4f4f57bd8cff2c1d4b7955ec2a97948bd3722915c8f3d337f7d370050e9e96d647b7c39f56e031ca5eb6250d" +
      "4042e02785ececfa4b4bb5e8ead0440e20b6e8db09d881a7c6132f420e52795042bdfa7773d8a9051447b3291ce1411c680465552aa6c405b7764d5e87bea85a" +
      "d00f8449ed8f72d0d662ab052691ca66424bc86d2df80ea41f43abf937d3259dc4b2d0dfb48a6c9139ddd7f76966e928e635553ba76c5c879d7b35d49eb2e62b" +
      "0871cdac638939e25e8a1e0ef9d5280fa8ca328b351c3c765989cbcf3daa8b6ccc3aaf9f3979c92b3720fc88dc95ed84a1be059c6499b9fda236e7e818b04b0b" +
      "c39c1e876b193bfe5569753f88128cc08aaa9b63d1a16f80ef2554d7189c411f5869ca52c5b83fa36ff216b9c1d30062bebcfd2dc5bce0911934fda79a86f6e6" +
      "98ced759c3ff9b6477338f3da4f9cd8514ea9982ccafb341b2384dd902f3d1ab7ac61dd29c6f21ba5b862f3730e37cfdc4fd806c22f221" },
  { name: "A.2 #3", key: KEY_1C92, nonce: TWO_NONCE, counter: 42, input: JABBERWOCKY,
    output: "62e6347f95ed87a45ffae7426f27a1df5fb69110044c0d73118effa95b01e5cf166d3df2d721caf9b21e5fb14c616871fd84c54f9d65b283196c7fe4f60553eb" +
      "f39c6402c42234e32a356b3e764312a61a5532055716ead6962568f87d3f3f7704c6a8d1bcd1bf4d50d6154b6da731b187b58dfd728afa36757a797ac188d1" },
  // 2.6.2 and A.4: the one-time Poly1305 key is the first 32 bytes of block 0.
  { name: "2.6.2 poly key", key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", nonce: "000000000001020304050607", counter: 0, input: Z32,
    output: "8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646" },
  { name: "A.4 #1", key: Z32, nonce: Z12, counter: 0, input: Z32, output: "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7" },
  { name: "A.4 #2", key: ONE, nonce: TWO_NONCE, counter: 0, input: Z32, output: "ecfa254f845f647473d3cb140da9e87606cb33066c447b87bc2666dde3fbb739" },
  { name: "A.4 #3", key: KEY_1C92, nonce: TWO_NONCE, counter: 0, input: Z32, output: "965e3bc6f9ec7ed9560808f4d229f94b137ff275ca9b3fcbdd59deaad23310ae" },
];

export const POLY1305_VECTORS = [
  { name: "2.5.2", key: "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
    msg: Buffer.from("Cryptographic Forum Research Group", "latin1").toString("hex"), tag: "a8061dc1305136c6c22b8baf0c0127a9" },
  { name: "A.3 #1", key: Z32, msg: "00".repeat(64), tag: "00".repeat(16) },
  { name: "A.3 #2", key: "00".repeat(16) + "36e5f6b5c5e06070f0efca96227a863e", msg: IETF, tag: "36e5f6b5c5e06070f0efca96227a863e" },
  { name: "A.3 #3", key: "36e5f6b5c5e06070f0efca96227a863e" + "00".repeat(16), msg: IETF, tag: "f3477e7cd95417af89a6b8794c310cf0" },
  { name: "A.3 #4", key: KEY_1C92, msg: JABBERWOCKY, tag: "4541669a7eaaee61e708dc7cbcc5eb62" },
  { name: "A.3 #5", key: "02" + "00".repeat(31), msg: "ff".repeat(16), tag: "03" + "00".repeat(15) },
  { name: "A.3 #6", key: "02" + "00".repeat(15) + "ff".repeat(16), msg: "02" + "00".repeat(15), tag: "03" + "00".repeat(15) },
  { name: "A.3 #7", key: "01" + "00".repeat(31), msg: "ff".repeat(16) + "f0" + "ff".repeat(15) + "11" + "00".repeat(15), tag: "05" + "00".repeat(15) },
  { name: "A.3 #8", key: "01" + "00".repeat(31), msg: "ff".repeat(16) + "fb" + "fe".repeat(15) + "01".repeat(16), tag: "00".repeat(16) },
  { name: "A.3 #9", key: "02" + "00".repeat(31), msg: "fd" + "ff".repeat(15), tag: "fa" + "ff".repeat(15) },
  { name: "A.3 #10", key: "0100000000000000" + "0400000000000000" + "00".repeat(16),
    msg: "e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000" + "00".repeat(16) + "01" + "00".repeat(15),
    tag: "14000000000000005500000000000000" },
  { name: "A.3 #11", key: "0100000000000000" + "0400000000000000" + "00".repeat(16),
    msg: "e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000" + "00".repeat(16), tag: "13" + "00".repeat(15) },
];

/** AEAD: sealed = ciphertext || tag. */
export const AEAD_VECTORS = [
  { name: "2.8.2", key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", nonce: "070000004041424344454647",
    aad: "50515253c0c1c2c3c4c5c6c7", plaintext: SUNSCREEN,
    sealed: "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36" +
      "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116" + "1ae10b594f09e26a7e902ecbd0600691" },
  { name: "A.5", key: KEY_1C92, nonce: "000000000102030405060708", aad: "f33388860000000000004e91",
    plaintext: Buffer.from("Internet-Drafts are draft documents valid for a maximum of six months and may be updated, replaced, or obsoleted by other documents at any time. It is inappropriate to use Internet-Drafts as reference material or to cite them other than as /\u201cwork in progress./\u201d", "utf8").toString("hex"),
    sealed: "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf" +
      "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4" +
      "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a" +
      "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29" +
      "a6ad5cb4022b02709b" + "eead9d67890cbb22392336fea1851f38" },
];
