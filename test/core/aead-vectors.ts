/**
 * Test vectors of the card's AEAD (`inkcard/etm/v1`, docs/dynamic-data.md "The
 * card's AEAD"), made by test/core/etm-reference.ts (node:crypto alone) and
 * shown in the document. Used on the host (aead.test.ts) and on the
 * interpreter (test/card/aead-espruino.test.ts). Fixed patterns, no secret.
 */
export const ETM_KEYS = {
  key: "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da",
  kE: "85a6f28e5259ba290cd2efd65d609591901306453a6713454a2bd551ccd446cc",
  kM: "bba451c6ae8e703ccf4333e070a212c6d85aaabfee6ccb6e04504bcef6ebd704",
};

export const AEAD_VECTORS = [
  {
    name: "empty plaintext and aad",
    key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    nonce: "404142434445464748494a4b",
    aad: "",
    plaintext: "",
    sealed: "d95d1d50f3cf702650e44a374a818c3a",
  },
  {
    name: "one byte, one byte of aad",
    key: "808386898c8f9295989b9ea1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadd",
    nonce: "01060b10151a1f24292e3338",
    aad: "7e",
    plaintext: "55",
    sealed: "976d698c05cb211404cafff7dd402819d6",
  },
  {
    name: "one whole block",
    key: "0910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2",
    nonce: "020d18232e39444f5a65707b",
    aad: "03101d2a3744515e6b7885929fac",
    plaintext: "0415263748596a7b8c9daebfd0e1f2031425364758697a8b9cadbecfe0f10213",
    sealed: "5454aa004d1da934c65055b8bd91103362183887edadb026b37975c149cce41a4ea0df8566a5a196f51d248ea001988f",
  },
  {
    name: "a block and a byte",
    key: "05182b3e5164778a9db0c3d6e9fc0f2235485b6e8194a7bacde0f306192c3f52",
    nonce: "061d344b627990a7bed5ec03",
    aad: "0724415e7b98b5d2ef0c29466380",
    plaintext: "0827466584a3c2e1001f3e5d7c9bbad9f81736557493b2d1f00f2e4d6c8baac9e8",
    sealed: "fd2c728789fc6ba1cfacb32603ed45a5d6d95694707102871019a53204e11c39c8e9cb2b4da43eb8b92c55a2caa6f45ee9",
  },
  {
    name: "a 160-byte frame (14 aad, 130 body)",
    key: "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da",
    nonce: "05080b0e1114171a1d202326",
    aad: "020d18232e39444f5a65707b8691",
    plaintext: "090e13181d22272c31363b40454a4f54595e63686d72777c81868b90959a9fa4a9aeb3b8bdc2c7ccd1d6dbe0e5eaeff4f9fe03080d12171c21262b30353a3f44494e53585d62676c71767b80858a8f94999ea3a8adb2b7bcc1c6cbd0d5dadfe4e9eef3f8fd02070c11161b20252a2f34393e43484d52575c61666b70757a7f84898e",
    sealed: "aae1338ea18d6eb8596f20b4c88067be399e7eab242d52439f22bd666684482a2a0e8c54c229ae121c29b05b9fbcaa2f29b41216eee61da44d66e22b0e7ed5b07c39ac9a7811915655c43c6c368fb7c5d5221282a9ce1328d9805cb5b8f9a453a437a206112de2986306406bd40f2c363dde17e5374d21ab95d682719a928dfcf5f01d8da5da08ec132790ff0612c0e94745",
  },
];
