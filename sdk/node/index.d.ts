// Types of @rayab/sdk (the sources are plain modern JavaScript in src/).

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;
export type ParameterValue = string | number | boolean | null;
export type Parameters = Readonly<Record<string, ParameterValue>>;
export type AssignmentReason =
  | "assigned" | "shipped" | "missing_id" | "not_targeted" | "outside_layer_slice" | "outside_rollout";

/** What one unit sees in one experiment under config version `configVersion`. */
export interface Assignment {
  readonly expId: string;
  readonly variantId: string | null;
  readonly parameters: Parameters;
  readonly configVersion: number;
  readonly inExperiment: boolean;
  readonly reason: AssignmentReason;
}

/** A targeting rule in its mapping form: {attr, OP: value}, {all: [...]}, {any: [...]}, {not: {...}}, {}. */
export type TargetingRule = Readonly<Record<string, unknown>>;

export interface SnapshotVariant {
  variant_id: string;
  traffic_pct: number;
  parameters: Record<string, ParameterValue>;
}

export interface SnapshotExperiment {
  exp_id: string;
  unit: "PROFILE" | "ACCOUNT" | "DEVICE";
  status: "draft" | "running" | "stopped" | "archived";
  variants: SnapshotVariant[];
  rollout_pct: number;
  assignment_salt: string;
  layer: string;
  layer_pct: [number, number];
  targeting: TargetingRule;
  consistency: "strict" | "session" | "hybrid";
  hash_mode: "rayab" | "growthbook";
  hash_version: number;
  shipped_variant: string;
}

/** The document rayab's `rayab.assignment.snapshot_json` renders (and WatchConfig carries). */
export interface SnapshotDocument {
  format: "rayab.assignment-snapshot";
  schema_version: 1;
  config_version: number;
  experiments: SnapshotExperiment[];
}

export interface AssignOptions {
  expIds?: readonly string[] | null;
  sessionId?: string | null;
}

export interface BatchOptions {
  expIds?: readonly string[] | null;
  sessionIds?: ReadonlyArray<string | null> | null;
}

export class Client {
  constructor(document: SnapshotDocument | string);
  readonly configVersion: number;
  update(document: SnapshotDocument | string): boolean;
  assign(unitId: string, attributes?: Attributes | null, options?: AssignOptions): Assignment[];
  assignBatch(unitIds: readonly string[], attributes?: ReadonlyArray<Attributes | null> | null,
              options?: BatchOptions): Assignment[][];
  getParameters(unitId: string, attributes?: Attributes | null, options?: AssignOptions): Record<string, ParameterValue>;
  getParameter<T = ParameterValue>(unitId: string, attributes: Attributes | null, name: string, defaultValue?: T,
                                   options?: { sessionId?: string | null }): ParameterValue | T;
  /** The assignment serving parameter `name` to the unit (what getParameter reads), or null. */
  parameterAnswer(unitId: string, attributes: Attributes | null, name: string,
                  options?: { sessionId?: string | null }): Assignment | null;
}

export class Plan {
  readonly expId: string;
  readonly serving: "active" | "shipped" | "inactive";
  hashId(unitId: string, sessionId: string | null): string;
  position(hashId: string): number;
  layerPosition(hashId: string): number;
  decide(unitId: string, sessionId: string | null, attributes: Attributes): Assignment;
}

export class Evaluator {
  constructor(document: SnapshotDocument | string);
  readonly configVersion: number;
  readonly plans: ReadonlyMap<string, Plan>;
  assign(unitId: string, attributes: Attributes | null, expIds: readonly string[] | null,
         sessionId: string | null): Assignment[];
  assignBatch(unitIds: readonly string[], attributes: ReadonlyArray<Attributes | null> | null,
              expIds: readonly string[] | null, sessionIds: ReadonlyArray<string | null> | null): Assignment[][];
}

export const FORMAT: "rayab.assignment-snapshot";
export const SCHEMA_VERSION: 1;
export const OPERATORS: readonly string[];

export function bucket(salt: string, unitId: string): number;
export function digestPosition(digest: Uint8Array): number;
export function fnv1a32(text: string): number;
export function gbHash(seed: string, value: string, version: number): number | null;
export function variantRanges(weights: readonly number[], coverage: number): Array<[number, number]>;
export function compileRule(rule: TargetingRule | null | undefined, path?: string): ((attributes: Attributes) => boolean) | null;
export function matches(rule: TargetingRule | null | undefined, attributes: Attributes): boolean;
export function readAs(kind: "str" | "num" | "bool" | "version", value: unknown): unknown;
export function readNumber(text: string): number | null;
export interface VersionKey { release: number[]; flag: 0 | 1; pre: Array<[0 | 1, string]>; }
export function versionKey(text: string): VersionKey | null;
export function compareVersions(a: VersionKey, b: VersionKey): -1 | 0 | 1;
export function checkIds(unitId: unknown, sessionId: unknown, field?: string, sessionField?: string): void;
export function checkAttributes(attributes: unknown, field?: string): Attributes;
export function checkExpIds(expIds: unknown): readonly string[] | null;

export class RayabError extends Error {
  readonly code: "invalid_argument" | "not_found" | "failed_precondition";
  readonly field: string | null;
}
export class ValidationError extends RayabError { readonly rule: string; }
export class SnapshotError extends ValidationError {}
export class NotFoundError extends RayabError {}
export class PreconditionError extends RayabError {}

/** A running WatchConfig follower (`@rayab/sdk/watch`; needs the optional @grpc/grpc-js and @grpc/proto-loader). */
export interface ConfigWatch {
  /** The client evaluating from the latest snapshot received (swapped atomically on each new version). */
  readonly client: Client;
  readonly stats: WatchStats;
  /** The exposure mode given to watchConfig. */
  readonly exposureMode: ExposureMode;
  /** Buffer the exposure of a measured assignment (once per experiment and unit); false if not buffered
   * (not measured, a duplicate, the buffer full, or the "never" mode). */
  logExposure(unitId: string, assignment: Assignment): boolean;
  /** Client.getParameter on the latest snapshot; in "on_use" mode logs the experiment that served it. */
  getParameter<T = ParameterValue>(unitId: string, attributes: Attributes | null, name: string, defaultValue?: T,
                                   options?: { sessionId?: string | null }): ParameterValue | T;
  /** The unit's variant in `expId` (null: none); in "on_use" mode logs the exposure. */
  variant(unitId: string, attributes: Attributes | null, expId: string,
    options?: { sessionId?: string | null }): string | null;
  /** Send the buffered exposures with LogExposures; false (kept, bounded) when the call failed. */
  flush(): Promise<boolean>;
  /** Stop following, flush, close the channel. */
  close(): Promise<WatchStats>;
}

export interface WatchStats {
  connects: number;
  breaks: number;
  lastError: string;
  connected: boolean;
  exposuresLogged: number;
  exposuresSent: number;
  exposuresDropped: number;
  exposuresRejected: number;
  /** Measured exposures not logged because the mode is "never". */
  exposuresSkipped: number;
  sendFailures: number;
}

export type ExposureMode = "on_use" | "explicit" | "never";

export interface WatchOptions {
  protoPath?: string;
  backoffMs?: number;
  maxBackoffMs?: number;
  staleMs?: number;
  waitMs?: number;
  onUpdate?: (version: number) => void;
  /** Which exposures are logged (default "on_use"). */
  exposures?: ExposureMode;
  maxPending?: number;
  /** The background flusher's period while sends succeed (1000). */
  flushIntervalMs?: number;
  /** How long close() retries sending what is buffered (10000). */
  closeTimeoutMs?: number;
}

/** Follow a server's WatchConfig with the SDK key; resolves once the first snapshot is installed. */
export function watchConfig(target: string, sdkKey: string, options?: WatchOptions): Promise<ConfigWatch>;
