// The plain-JavaScript MD5 against node:crypto (OpenSSL) on inputs of every length up to 4 blocks, ASCII and not.

import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { bucket, digestPosition, md5, saltPrefix } from "../src/index.js";

const ALPHABET = ["a", "Z", "0", ":", " ", "é", "ß", "€", "用", "😀", "\u0000", "\uffff", "𝔘"];

function text(seed, length) {
  let out = "";
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += ALPHABET[x % ALPHABET.length];
  }
  return out;
}

test("md5 equals node:crypto for every length from 0 to 300 characters", () => {
  for (let length = 0; length <= 300; length++) {
    for (const seed of [1, 2, 3]) {
      const salt = text(seed * 7919, length % 17);
      const id = seed === 1 ? "x".repeat(length) : text(seed + length, length);
      const expected = crypto.createHash("md5").update(salt + ":" + id, "utf8").digest();
      assert.deepEqual(Buffer.from(md5(saltPrefix(salt), id)), expected, JSON.stringify([salt, id]));
      assert.equal(bucket(salt, id), digestPosition(expected));
    }
  }
});

test("known digests", () => {
  const hex = (s) => Buffer.from(md5(new Uint8Array(0), s)).toString("hex");
  assert.equal(hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  assert.equal(hex("The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6");
});
