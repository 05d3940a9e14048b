// @rayab/sdk: rayab assignments evaluated in-process from a config snapshot document.

export { Client } from "./client.js";
export { Evaluator, Plan, FORMAT, SCHEMA_VERSION, checkIds, checkAttributes, checkExpIds } from "./evaluator.js";
export { bucket, digestPosition, fnv1a32, gbHash, prefixedBucket, saltPrefix, variantRanges } from "./hashing.js";
export { md5 } from "./md5.js";
export { compileRule, matches, readAs, readNumber, versionKey, compareVersions, OPERATORS } from "./targeting.js";
export { RayabError, ValidationError, SnapshotError, NotFoundError, PreconditionError } from "./errors.js";
