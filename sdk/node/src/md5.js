// MD5 (RFC 1321) in plain JavaScript, for the assignment bucket only: the digest of utf8(prefix + text), of
// which the bucket needs the first 8 bytes. A unit id is a few dozen bytes, one or two 64-byte blocks, and a
// call into OpenSSL through node:crypto costs more than hashing such a block here (see bench/bench.js). The
// tests compare it with node:crypto on thousands of inputs.

// K[i] = floor(|sin(i + 1)| * 2**32)
const K = new Int32Array([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);
const SHIFT = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const TWO_21 = 2097152;
const TWO_53 = 9007199254740992;

let bytes = new Uint8Array(1024);
let words = new Int32Array(256);
const state = new Int32Array(4);

/** The UTF-8 bytes of `prefix` followed by those of `text`, written into `bytes`; returns the byte length. */
function encode(prefix, text) {
  const need = prefix.length + text.length * 3 + 72;
  if (need > bytes.length) {
    const size = 1 << Math.ceil(Math.log2(need));
    bytes = new Uint8Array(size);
    words = new Int32Array(size >> 2);
  }
  bytes.set(prefix);
  let n = prefix.length;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      bytes[n++] = c;
    } else if (c < 0x800) {
      bytes[n++] = 0xc0 | (c >> 6);
      bytes[n++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      // a surrogate pair (the callers reject lone surrogates before hashing)
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      bytes[n++] = 0xf0 | (c >> 18);
      bytes[n++] = 0x80 | ((c >> 12) & 63);
      bytes[n++] = 0x80 | ((c >> 6) & 63);
      bytes[n++] = 0x80 | (c & 63);
    } else {
      bytes[n++] = 0xe0 | (c >> 12);
      bytes[n++] = 0x80 | ((c >> 6) & 63);
      bytes[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

function block(offset) {
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  for (let i = 0; i < 64; i++) {
    let f;
    let g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const s = SHIFT[((i >> 4) << 2) | (i & 3)];
    f = (f + a + K[i] + words[offset + g]) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((f << s) | (f >>> (32 - s)))) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
}

function digestWords(prefix, text) {
  const n = encode(prefix, text);
  let padded = n + 1;
  while (padded % 64 !== 56) padded++;
  bytes[n] = 0x80;
  bytes.fill(0, n + 1, padded + 8);
  const bits = n * 8;
  bytes[padded] = bits & 255;
  bytes[padded + 1] = (bits >>> 8) & 255;
  bytes[padded + 2] = (bits >>> 16) & 255;
  bytes[padded + 3] = (bits >>> 24) & 255;
  const high = Math.floor(bits / 4294967296);
  bytes[padded + 4] = high & 255;
  bytes[padded + 5] = (high >>> 8) & 255;
  bytes[padded + 6] = (high >>> 16) & 255;
  bytes[padded + 7] = (high >>> 24) & 255;
  const total = padded + 8;
  for (let w = 0, j = 0; j < total; w++, j += 4) {
    words[w] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
  }
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
  for (let w = 0; w < total >> 2; w += 16) block(w);
}

function swap(word) {
  return (((word & 255) << 24) | (((word >>> 8) & 255) << 16) | (((word >>> 16) & 255) << 8) | (word >>> 24)) >>> 0;
}

/**
 * The md5 digest of utf8(prefix) + utf8(text) as 16 bytes.
 * @param {Uint8Array} prefix
 * @param {string} text
 */
export function md5(prefix, text) {
  digestWords(prefix, text);
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const word = state[i];
    out[4 * i] = word & 255;
    out[4 * i + 1] = (word >>> 8) & 255;
    out[4 * i + 2] = (word >>> 16) & 255;
    out[4 * i + 3] = word >>> 24;
  }
  return out;
}

/**
 * The bucket of a hash input: the top 53 bits of md5(utf8(prefix) + utf8(text)) over 2**53.
 * @param {Uint8Array} prefix
 * @param {string} text
 */
export function md5Position(prefix, text) {
  digestWords(prefix, text);
  return (swap(state[0]) * TWO_21 + (swap(state[1]) >>> 11)) / TWO_53;
}
