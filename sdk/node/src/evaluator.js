// One snapshot document compiled for the request path (rayab/assignment/plan.py and engine.py).
//
// A unit goes through these steps, in this order; the first that fails names the reason:
//   shipped (a stopped experiment with a shipped variant serves it to everyone, in_experiment false),
//   missing_id, not_targeted, outside_layer_slice, outside_rollout, assigned.
// Only assigned and shipped answers carry parameters.

import { gbHash, prefixedBucket, saltPrefix, variantRanges } from "./hashing.js";
import { compileRule, codePointLength } from "./targeting.js";
import { NotFoundError, PreconditionError, SnapshotError, ValidationError } from "./errors.js";

export const FORMAT = "rayab.assignment-snapshot";
export const SCHEMA_VERSION = 1;
const STATUSES = new Set(["draft", "running", "stopped", "archived"]);
const CONSISTENCY = new Set(["strict", "session", "hybrid"]);
const HASH_MODES = new Set(["rayab", "growthbook"]);
const MAX_ID_LENGTH = 256;
const MAX_ATTRIBUTES = 256;
const MAX_ATTRIBUTE_NAME = 64;
const MAX_ATTRIBUTE_TEXT = 1024;
const EMPTY = Object.freeze({});

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function need(condition, field, value, rule) {
  if (!condition) throw new SnapshotError(field, value, rule);
}

function checkPercent(field, value) {
  need(typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= 100, field, value,
    "must be a finite number in [0, 100]");
  return value;
}

function checkText(field, value) {
  need(typeof value === "string" && value.length > 0 && value.isWellFormed(), field, value,
    "must be a non-empty, well-formed string");
  return value;
}

function checkParameters(field, value) {
  need(isObject(value), field, value, "must be a mapping of parameter name to value");
  for (const [name, item] of Object.entries(value)) {
    const ok = item === null || typeof item === "string" || typeof item === "boolean"
      || (typeof item === "number" && Number.isFinite(item));
    need(ok, `${field}.${name}`, item, "must be a string, number, boolean or null");
  }
  return Object.freeze({ ...value });
}

function frozenAnswer(expId, variantId, parameters, configVersion, inExperiment, reason) {
  return Object.freeze({ expId, variantId, parameters, configVersion, inExperiment, reason });
}

/** One experiment with its ranges, salts, compiled targeting and every possible answer precomputed. */
export class Plan {
  constructor(data, path, configVersion) {
    need(isObject(data), path, data, "must be a mapping");
    const expId = checkText(`${path}.exp_id`, data.exp_id);
    const status = data.status;
    need(STATUSES.has(status), `${path}.status`, status, "must be one of draft, running, stopped, archived");
    need(Array.isArray(data.variants) && data.variants.length >= 2, `${path}.variants`, data.variants,
      "must be a list of at least 2 variants");
    const variantIds = [];
    const weights = [];
    const parameters = [];
    let total = 0;
    data.variants.forEach((v, i) => {
      const at = `${path}.variants[${i}]`;
      need(isObject(v), at, v, "must be a mapping");
      variantIds.push(checkText(`${at}.variant_id`, v.variant_id));
      const pct = checkPercent(`${at}.traffic_pct`, v.traffic_pct);
      total += pct;
      weights.push(pct / 100);
      parameters.push(checkParameters(`${at}.parameters`, v.parameters ?? {}));
    });
    need(Math.abs(total - 100) <= 1e-6, `${path}.variants[*].traffic_pct`, data.variants.map((v) => v.traffic_pct),
      "must sum to 100");
    const rollout = checkPercent(`${path}.rollout_pct`, data.rollout_pct);
    this.salt = checkText(`${path}.assignment_salt`, data.assignment_salt);
    this.layer = checkText(`${path}.layer`, data.layer);
    const slice = data.layer_pct;
    need(Array.isArray(slice) && slice.length === 2, `${path}.layer_pct`, slice, "must be a pair [start, end] of percentages");
    const start = checkPercent(`${path}.layer_pct[0]`, slice[0]);
    const end = checkPercent(`${path}.layer_pct[1]`, slice[1]);
    need(start < end, `${path}.layer_pct`, slice, "must satisfy 0 <= start < end <= 100");
    this.consistency = data.consistency;
    need(CONSISTENCY.has(this.consistency), `${path}.consistency`, this.consistency, "must be one of strict, session, hybrid");
    this.hashMode = data.hash_mode;
    need(HASH_MODES.has(this.hashMode), `${path}.hash_mode`, this.hashMode, "must be one of rayab, growthbook");
    this.hashVersion = data.hash_version;
    const versions = this.hashMode === "growthbook" ? [1, 2] : [1];
    need(versions.includes(this.hashVersion), `${path}.hash_version`, this.hashVersion, `must be one of ${versions.join(", ")}`);
    const shipped = data.shipped_variant ?? "";
    need(shipped === "" || variantIds.includes(shipped), `${path}.shipped_variant`, shipped,
      `must be empty or one of the variant ids ${variantIds.join(", ")}`);

    this.expId = expId;
    this.status = status;
    this.unit = data.unit;
    this.serving = status === "running" ? "active" : status === "stopped" && shipped ? "shipped" : "inactive";
    this.predicate = compileRule(data.targeting, `${path}.targeting`);
    this.layerSlice = start === 0 && end === 100 ? null : [start / 100, end / 100];
    this.ranges = variantRanges(weights, rollout / 100);
    this.variantIds = variantIds;
    this.parameterNames = new Set(parameters.flatMap((p) => Object.keys(p)));
    this.assigned = variantIds.map((id, i) => frozenAnswer(expId, id, parameters[i], configVersion, true, "assigned"));
    this.outside = {};
    for (const reason of ["missing_id", "not_targeted", "outside_layer_slice", "outside_rollout"]) {
      this.outside[reason] = frozenAnswer(expId, null, EMPTY, configVersion, false, reason);
    }
    const shippedIndex = variantIds.indexOf(shipped);
    this.shipped = shipped ? frozenAnswer(expId, shipped, parameters[shippedIndex], configVersion, false, "shipped") : null;
    this.layerSeed = this.hashMode === "rayab" ? `${this.layer}:layer` : `__${this.layer}`;
    this.assignPrefix = saltPrefix(this.salt);
    this.layerPrefix = saltPrefix(this.layerSeed);
  }

  /** The id this experiment hashes ("" when the request lacks it). */
  hashId(unitId, sessionId) {
    if (this.consistency === "strict") return unitId;
    if (this.consistency === "session") return sessionId || "";
    return unitId || sessionId || "";
  }

  /** The id's position in [0, 1) for the variant ranges. */
  position(hashId) {
    return this.hashMode === "rayab" ? prefixedBucket(this.assignPrefix, hashId) : gbHash(this.salt, hashId, this.hashVersion);
  }

  /** The id's position in [0, 1) in the experiment's layer. */
  layerPosition(hashId) {
    return this.hashMode === "rayab" ? prefixedBucket(this.layerPrefix, hashId) : gbHash(this.layerSeed, hashId, 1);
  }

  /** The answer for one (already validated) request. */
  decide(unitId, sessionId, attributes) {
    if (this.serving === "shipped") return this.shipped;
    const hashId = this.hashId(unitId, sessionId);
    if (!hashId) return this.outside.missing_id;
    if (this.predicate !== null && !this.predicate(attributes)) return this.outside.not_targeted;
    if (this.layerSlice !== null) {
      const p = this.layerPosition(hashId);
      if (!(this.layerSlice[0] <= p && p < this.layerSlice[1])) return this.outside.outside_layer_slice;
    }
    const position = this.position(hashId);
    const ranges = this.ranges;
    for (let i = 0; i < ranges.length; i++) {
      if (ranges[i][0] <= position && position < ranges[i][1]) return this.assigned[i];
    }
    return this.outside.outside_rollout;
  }
}

function checkId(field, value, optional) {
  if (optional && (value === null || value === undefined)) return;
  const kind = optional ? "None or a string" : "a string";
  if (typeof value !== "string" || (value.length > MAX_ID_LENGTH && codePointLength(value) > MAX_ID_LENGTH)) {
    throw new ValidationError(field, value, `must be ${kind} of at most ${MAX_ID_LENGTH} characters`);
  }
  if (!value.isWellFormed()) throw new ValidationError(field, value, "must be well-formed Unicode (no lone surrogate)");
}

/** Validates a unit id and an optional session id (Python's check_ids). */
export function checkIds(unitId, sessionId, field = "unit_id", sessionField = "session_id") {
  checkId(field, unitId, false);
  checkId(sessionField, sessionId, true);
  if (!unitId && !sessionId) throw new ValidationError(field, unitId, "must be non-empty unless a session_id is given");
}

/** Validates request attributes (Python's check_attributes); null or undefined is no attributes. */
export function checkAttributes(attributes, field = "attributes") {
  if (attributes === null || attributes === undefined) return EMPTY;
  if (!isObject(attributes)) throw new ValidationError(field, attributes, "must be a mapping of attribute name to value");
  const names = Object.keys(attributes);
  if (names.length > MAX_ATTRIBUTES) {
    throw new ValidationError(field, `<${names.length} attributes>`, `must have at most ${MAX_ATTRIBUTES}`);
  }
  for (const name of names) {
    if (name.length === 0 || (name.length > MAX_ATTRIBUTE_NAME && codePointLength(name) > MAX_ATTRIBUTE_NAME)) {
      throw new ValidationError(field, name, `names must be strings of 1 to ${MAX_ATTRIBUTE_NAME} characters`);
    }
    const value = attributes[name];
    const type = typeof value;
    if (type === "string") {
      if (value.length > MAX_ATTRIBUTE_TEXT && codePointLength(value) > MAX_ATTRIBUTE_TEXT) {
        throw new ValidationError(`${field}.${name}`, `${value.slice(0, 32)}...`, `must be at most ${MAX_ATTRIBUTE_TEXT} characters`);
      }
    } else if (type === "number") {
      if (!Number.isFinite(value)) throw new ValidationError(`${field}.${name}`, String(value), "must be a finite number");
    } else if (type !== "boolean") {
      throw new ValidationError(`${field}.${name}`, value, "must be a string, a finite number or a boolean");
    }
  }
  return attributes;
}

/** Validates an experiment id list (Python's check_exp_ids); null or undefined is every served experiment. */
export function checkExpIds(expIds) {
  if (expIds === null || expIds === undefined) return null;
  if (typeof expIds === "string") throw new ValidationError("exp_ids", expIds, "must be a list of experiment ids, not one string");
  if (!Array.isArray(expIds)) throw new ValidationError("exp_ids", expIds, "must be a list of experiment ids");
  expIds.forEach((id, i) => {
    if (typeof id !== "string" || id.length === 0 || codePointLength(id) > MAX_ID_LENGTH) {
      throw new ValidationError(`exp_ids[${i}]`, id, "must be a non-empty string");
    }
  });
  return expIds;
}

/** An immutable evaluator over one snapshot document: every answer carries its config version. */
export class Evaluator {
  constructor(document) {
    const data = typeof document === "string" ? parseJson(document) : document;
    need(isObject(data), "snapshot", data, "must be a mapping");
    need(data.format === FORMAT, "snapshot.format", data.format, `must be '${FORMAT}'`);
    need(data.schema_version === SCHEMA_VERSION, "snapshot.schema_version", data.schema_version,
      `must be ${SCHEMA_VERSION} (this SDK knows schema version ${SCHEMA_VERSION} only)`);
    const version = data.config_version;
    need(Number.isSafeInteger(version) && version >= 0, "snapshot.config_version", version,
      "must be an integer in [0, 2**53 - 1]");
    need(Array.isArray(data.experiments), "snapshot.experiments", data.experiments, "must be a list");
    this.configVersion = version;
    this.plans = new Map();
    data.experiments.forEach((e, i) => {
      const plan = new Plan(e, `snapshot.experiments[${i}]`, version);
      need(!this.plans.has(plan.expId), `snapshot.experiments[${i}].exp_id`, plan.expId, "duplicate experiment id");
      this.plans.set(plan.expId, plan);
    });
    this.served = [...this.plans.values()].filter((p) => p.serving !== "inactive");
    this.byParameter = new Map();
    for (const plan of this.served) {
      for (const name of plan.parameterNames) {
        if (!this.byParameter.has(name)) this.byParameter.set(name, []);
        this.byParameter.get(name).push(plan);
      }
    }
    Object.freeze(this);
  }

  select(expIds) {
    if (checkExpIds(expIds) === null) return this.served;
    return expIds.map((expId) => {
      const plan = this.plans.get(expId);
      if (plan === undefined) throw new NotFoundError(`experiment '${expId}' is not in config version ${this.configVersion}`);
      if (plan.serving === "inactive") {
        throw new PreconditionError(`experiment '${expId}' is ${plan.status} and serves no assignment `
          + "(only running experiments and stopped ones with a shipped variant do)");
      }
      return plan;
    });
  }

  assign(unitId, attributes, expIds, sessionId) {
    checkIds(unitId, sessionId);
    const checked = checkAttributes(attributes);
    const plans = this.select(expIds);
    const out = new Array(plans.length);
    for (let i = 0; i < plans.length; i++) out[i] = plans[i].decide(unitId, sessionId, checked);
    return out;
  }

  assignBatch(unitIds, attributes, expIds, sessionIds) {
    if (!Array.isArray(unitIds)) throw new ValidationError("unit_ids", typeof unitIds, "must be a list");
    const n = unitIds.length;
    const sessions = sessionIds ?? null;
    if (sessions !== null && (!Array.isArray(sessions) || sessions.length !== n)) {
      throw new ValidationError("session_ids", Array.isArray(sessions) ? `<${sessions.length} entries>` : typeof sessions,
        `must be a list with one entry per unit id (${n})`);
    }
    for (let i = 0; i < n; i++) {
      checkIds(unitIds[i], sessions === null ? null : sessions[i], `unit_ids[${i}]`, `session_ids[${i}]`);
    }
    if (attributes !== null && attributes !== undefined && (!Array.isArray(attributes) || attributes.length !== n)) {
      throw new ValidationError("attributes", Array.isArray(attributes) ? `<${attributes.length} entries>` : typeof attributes,
        `must be a list with one entry per unit id (${n})`);
    }
    const checked = new Array(n);
    for (let i = 0; i < n; i++) checked[i] = checkAttributes(attributes ? attributes[i] : null, `attributes[${i}]`);
    const plans = this.select(expIds);
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const row = new Array(plans.length);
      const session = sessions === null ? null : sessions[i];
      for (let j = 0; j < plans.length; j++) row[j] = plans[j].decide(unitIds[i], session, checked[i]);
      out[i] = row;
    }
    return out;
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SnapshotError("snapshot", text.slice(0, 64), `is not valid JSON: ${err.message}`);
  }
}
