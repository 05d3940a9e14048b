// Targeting rules (rayab/model/targeting.py, rayab/assignment/targeting.py): a rule is compiled once into a
// predicate over the request attributes.
//
// - The rule value fixes the type; the attribute is read as that type (readAs). A missing attribute, or one
//   that cannot be read as that type, makes the condition false for every operator, ne and not_in included.
// - JSON has one number type: an integral number is an integer (a string or version condition reads it as its
//   decimal text), any other number is a float.
// - Strings read as numbers as Python's float() reads them (surrounding Unicode whitespace, "_" between digits,
//   "1e3", ".5", decimal digits of any script; no hex, no infinities), and versions take decimal digits of any
//   script too, as the Python engine's \d does.

import { SnapshotError } from "./errors.js";

export const OPERATORS = Object.freeze([
  "eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte",
  "version_eq", "version_ne", "version_lt", "version_lte", "version_gt", "version_gte",
]);
const OPERATOR_SET = new Set(OPERATORS);
const MAX_DEPTH = 16;
const MAX_LIST_VALUES = 10000;
const MAX_TEXT_LENGTH = 1024;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const VERSION = /^[vV]?(\p{Nd}{1,9}(?:\.\p{Nd}{1,9}){0,7})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$/u;
const NUMBER = /^[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?$/;
// The characters Python's float() strips around a number.
const EDGE_SPACE = /^[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
const MAX_EXACT = 9007199254740992;

const ASCII = /^[\x00-\x7f]*$/;
const DECIMAL = /\p{Nd}/u;
const DIGIT_VALUES = new Map();

// Unicode encodes every script's decimal digits as runs of ten code points, 0 to 9, so a digit's value is its
// distance from the start of its block of consecutive digits, modulo 10.
function digitValue(codePoint) {
  let value = DIGIT_VALUES.get(codePoint);
  if (value === undefined) {
    let start = codePoint;
    while (start > 0 && DECIMAL.test(String.fromCodePoint(start - 1))) start--;
    value = (codePoint - start) % 10;
    DIGIT_VALUES.set(codePoint, value);
  }
  return value;
}

/** `text` with every decimal digit of another script replaced by the ASCII digit of the same value. */
export function asciiDigits(text) {
  if (ASCII.test(text)) return text;
  let out = "";
  for (const char of text) {
    out += DECIMAL.test(char) ? String(digitValue(char.codePointAt(0))) : char;
  }
  return out;
}

/** Length in Unicode code points (Python's len). */
export function codePointLength(text) {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

/**
 * The sort key of a version string, or null when `text` is not a version: release numbers without trailing
 * zeros, 1 for a release (0 for a pre-release), then pre-release identifiers as [0, digits] or [1, text].
 * @param {string} text
 */
export function versionKey(text) {
  if (text.length > 128 && codePointLength(text) > 128) return null;
  const match = VERSION.exec(text);
  if (match === null) return null;
  const release = asciiDigits(match[1]).split(".").map((part) => parseInt(part, 10));
  while (release.length > 1 && release[release.length - 1] === 0) release.pop();
  if (match[2] === undefined) return { release, flag: 1, pre: [] };
  const pre = match[2].split(".").map((p) => (/^[0-9]+$/.test(p) ? [0, p.replace(/^0+(?=.)/, "")] : [1, p]));
  return { release, flag: 0, pre };
}

function compareNumeric(a, b) {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Three-way comparison of two version keys (Python's tuple order). */
export function compareVersions(a, b) {
  const n = Math.min(a.release.length, b.release.length);
  for (let i = 0; i < n; i++) {
    if (a.release[i] !== b.release[i]) return a.release[i] < b.release[i] ? -1 : 1;
  }
  if (a.release.length !== b.release.length) return a.release.length < b.release.length ? -1 : 1;
  if (a.flag !== b.flag) return a.flag < b.flag ? -1 : 1;
  const m = Math.min(a.pre.length, b.pre.length);
  for (let i = 0; i < m; i++) {
    const [ta, va] = a.pre[i];
    const [tb, vb] = b.pre[i];
    if (ta !== tb) return ta < tb ? -1 : 1;
    const c = ta === 0 ? compareNumeric(va, vb) : (va < vb ? -1 : va > vb ? 1 : 0);
    if (c !== 0) return c;
  }
  return a.pre.length === b.pre.length ? 0 : a.pre.length < b.pre.length ? -1 : 1;
}

function versionText(key) {
  return `${key.release.join(".")}|${key.flag}|${key.pre.map(([t, v]) => `${t}:${v}`).join(".")}`;
}

function integerText(value) {
  return Math.abs(value) < MAX_EXACT ? String(value) : BigInt(value).toString();
}

/** A string read as a finite number the way Python's float() reads it, or null. */
export function readNumber(text) {
  const trimmed = asciiDigits(text).replace(EDGE_SPACE, "");
  if (!NUMBER.test(trimmed)) return null;
  const number = Number(trimmed.includes("_") ? trimmed.replaceAll("_", "") : trimmed);
  return Number.isFinite(number) ? number : null;
}

/**
 * `value` read as an operand of `kind` ("str", "num", "bool", "version"), or null when it cannot be.
 * @param {"str" | "num" | "bool" | "version"} kind
 * @param {unknown} value
 */
export function readAs(kind, value) {
  const type = typeof value;
  if (kind === "str") {
    if (type === "string") return value;
    return type === "number" && Number.isInteger(value) ? integerText(value) : null;
  }
  if (kind === "num") {
    if (type === "number") return Number.isFinite(value) ? value : null;
    return type === "string" ? readNumber(value) : null;
  }
  if (kind === "bool") {
    if (type === "boolean") return value;
    if (type !== "string" || value.length > 5) return null;
    const lowered = value.toLowerCase();
    return lowered === "true" ? true : lowered === "false" ? false : null;
  }
  if (type === "string") return cachedVersionKey(value);
  return type === "number" && Number.isInteger(value) ? versionKey(integerText(value)) : null;
}

// Attribute versions (app versions, OS versions) take few distinct values: parse each once.
const VERSION_CACHE = new Map();
const VERSION_CACHE_SIZE = 4096;

function cachedVersionKey(text) {
  let key = VERSION_CACHE.get(text);
  if (key === undefined) {
    key = versionKey(text);
    if (key !== null) {
      Object.freeze(key.release);
      Object.freeze(key.pre);
      Object.freeze(key);
    }
    if (VERSION_CACHE.size >= VERSION_CACHE_SIZE) VERSION_CACHE.clear();
    VERSION_CACHE.set(text, key);
  }
  return key;
}

function valueKind(value) {
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return Number.isFinite(value) ? "num" : null;
  if (typeof value === "string" && codePointLength(value) <= MAX_TEXT_LENGTH) return "str";
  return null;
}

function operandKind(op, value, path) {
  if (op === "in" || op === "not_in") {
    if (!Array.isArray(value) || value.length < 1 || value.length > MAX_LIST_VALUES) {
      throw new SnapshotError(path, value, `must be a list of 1 to ${MAX_LIST_VALUES} values`);
    }
    const kinds = new Set(value.map(valueKind));
    if (kinds.size !== 1 || kinds.has(null)) {
      throw new SnapshotError(path, value, "must all be strings, all numbers or all booleans");
    }
    return [...kinds][0];
  }
  if (op.startsWith("version_")) {
    if (typeof value !== "string" || versionKey(value) === null) {
      throw new SnapshotError(path, value, "must be a version such as '5.2' or '6.0.0-beta.1'");
    }
    return "version";
  }
  if (op === "lt" || op === "lte" || op === "gt" || op === "gte") {
    if (valueKind(value) !== "num") throw new SnapshotError(path, value, "must be a finite number");
    return "num";
  }
  const kind = valueKind(value);
  if (kind === null) {
    throw new SnapshotError(path, value, `must be a string (at most ${MAX_TEXT_LENGTH} characters), a finite number or a boolean`);
  }
  return kind;
}

const ORDER = {
  eq: (c) => c === 0, ne: (c) => c !== 0, lt: (c) => c < 0, lte: (c) => c <= 0, gt: (c) => c > 0, gte: (c) => c >= 0,
};

function compileCondition(rule, path) {
  const attr = rule.attr;
  if (typeof attr !== "string" || !COLUMN.test(attr)) {
    throw new SnapshotError(`${path}.attr`, attr, "must be a column name matching [A-Za-z_][A-Za-z0-9_]{0,63}");
  }
  const keys = Object.keys(rule).filter((k) => k !== "attr");
  const unknown = keys.filter((k) => !OPERATOR_SET.has(k));
  if (unknown.length > 0) {
    throw new SnapshotError(`${path}.${unknown[0]}`, rule[unknown[0]], `unknown operator; allowed: ${OPERATORS.join(", ")}`);
  }
  if (keys.length !== 1) {
    throw new SnapshotError(path, rule, `must have exactly one operator, found ${keys.join(", ") || "none"}`);
  }
  const op = keys[0];
  const kind = operandKind(op, rule[op], `${path}.${op}`);
  const read = (attributes) => (Object.hasOwn(attributes, attr) ? readAs(kind, attributes[attr]) : null);
  if (op === "in" || op === "not_in") {
    const inside = op === "in";
    const allowed = new Set(rule[op].map((v) => (kind === "version" ? versionText(readAs(kind, v)) : readAs(kind, v))));
    return (attributes) => {
      const value = read(attributes);
      if (value === null) return false;
      return allowed.has(kind === "version" ? versionText(value) : value) === inside;
    };
  }
  const test = ORDER[op.startsWith("version_") ? op.slice(8) : op];
  const expected = readAs(kind, rule[op]);
  if (kind === "version") {
    return (attributes) => {
      const value = read(attributes);
      return value !== null && test(compareVersions(value, expected));
    };
  }
  return (attributes) => {
    const value = read(attributes);
    return value !== null && test(value < expected ? -1 : value > expected ? 1 : 0);
  };
}

function compileNode(rule, path, depth) {
  if (depth > MAX_DEPTH) throw new SnapshotError(path, "...", `rules nest at most ${MAX_DEPTH} levels deep`);
  if (rule === null || typeof rule !== "object" || Array.isArray(rule) || Object.keys(rule).length === 0) {
    throw new SnapshotError(path, rule, "must be a non-empty mapping: {all: [...]}, {any: [...]}, {not: {...}} or {attr: NAME, OPERATOR: VALUE}");
  }
  if (Object.hasOwn(rule, "attr")) return compileCondition(rule, path);
  const keys = Object.keys(rule);
  if (keys.length !== 1) throw new SnapshotError(path, rule, "must have exactly one of all, any, not (or be a condition)");
  const key = keys[0];
  const value = rule[key];
  if (key === "not") {
    const inner = compileNode(value, `${path}.not`, depth + 1);
    return (attributes) => !inner(attributes);
  }
  if (key === "all" || key === "any") {
    if (!Array.isArray(value) || value.length === 0) {
      throw new SnapshotError(`${path}.${key}`, value, "must be a non-empty list of rules");
    }
    const parts = value.map((r, i) => compileNode(r, `${path}.${key}[${i}]`, depth + 1));
    return key === "all"
      ? (attributes) => parts.every((p) => p(attributes))
      : (attributes) => parts.some((p) => p(attributes));
  }
  throw new SnapshotError(`${path}.${key}`, value, "unknown key; allowed: all, any, not, attr");
}

/**
 * A predicate over attributes equivalent to `rule`; null or {} (everyone) compiles to null.
 * @param {object | null | undefined} rule
 * @param {string} [path]
 * @returns {((attributes: Record<string, unknown>) => boolean) | null}
 */
export function compileRule(rule, path = "targeting") {
  if (rule === null || rule === undefined) return null;
  if (typeof rule === "object" && !Array.isArray(rule) && Object.keys(rule).length === 0) return null;
  return compileNode(rule, path, 0);
}

/**
 * Whether `attributes` satisfy `rule`.
 * @param {object | null | undefined} rule
 * @param {Record<string, unknown>} attributes
 */
export function matches(rule, attributes) {
  const predicate = compileRule(rule);
  return predicate === null || predicate(attributes);
}
