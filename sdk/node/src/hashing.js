// The assignment hash, byte for byte as rayab specifies it (rayab/assignment/hashing.py):
//   n = first 8 bytes of md5(utf8(salt + ":" + id)) read as a big-endian uint64
//   bucket = (n >> 11) / 2**53   -- the top 53 bits, exact in a float64, always < 1
// and GrowthBook's FNV-1a positions (rayab/assignment/growthbook.py) for hash_mode "growthbook".

import { md5Position } from "./md5.js";

const TWO_21 = 2097152; // 2**21
const TWO_53 = 9007199254740992; // 2**53
const UTF8 = new TextEncoder();

/**
 * The UTF-8 bytes of `salt + ":"`, the constant start of every hash input under `salt`.
 * @param {string} salt
 */
export function saltPrefix(salt) {
  return UTF8.encode(salt + ":");
}

/**
 * The position in [0, 1) of an md5 digest: its top 53 bits over 2**53.
 * @param {Uint8Array} digest
 * @returns {number}
 */
export function digestPosition(digest) {
  const high = ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0;
  const low = ((digest[4] << 24) | (digest[5] << 16) | (digest[6] << 8) | digest[7]) >>> 0;
  return (high * TWO_21 + (low >>> 11)) / TWO_53;
}

/**
 * A unit's md5 bucket in [0, 1) under `salt`. Both strings must be well-formed UTF-16 (no lone surrogate):
 * their UTF-8 bytes are hashed, and a lone surrogate has none.
 * @param {string} salt
 * @param {string} unitId
 * @returns {number}
 */
export function bucket(salt, unitId) {
  return md5Position(saltPrefix(salt), unitId);
}

/**
 * `bucket` with the salt's prefix already encoded (`saltPrefix`): what the request path calls.
 * @param {Uint8Array} prefix
 * @param {string} unitId
 */
export function prefixedBucket(prefix, unitId) {
  return md5Position(prefix, unitId);
}

/**
 * 32-bit FNV-1a over the UTF-16 code units of `text`.
 * @param {string} text
 * @returns {number} an unsigned 32-bit integer
 */
export function fnv1a32(text) {
  let value = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    value = Math.imul(value ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return value;
}

/**
 * GrowthBook's position in [0, 1) for hash version 1 or 2; null for any other version.
 * @param {string} seed
 * @param {string} value
 * @param {number} version
 * @returns {number | null}
 */
export function gbHash(seed, value, version) {
  if (version === 1) return (fnv1a32(value + seed) % 1000) / 1000;
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
  return null;
}

/**
 * Coverage-monotone ranges: variant i owns [s_i, s_i + coverage * w_i), s_i the sum of the weights before it.
 * @param {readonly number[]} weights fractions summing to 1
 * @param {number} coverage the rollout as a fraction in [0, 1]
 * @returns {Array<[number, number]>}
 */
export function variantRanges(weights, coverage) {
  const ranges = [];
  let start = 0.0;
  for (const weight of weights) {
    ranges.push([start, start + coverage * weight]);
    start += weight;
  }
  return ranges;
}
