// The SDK client: assignments evaluated in-process from a snapshot document, swapped atomically on update.

import { Evaluator, checkIds, checkAttributes } from "./evaluator.js";

/**
 * Evaluates assignments locally from a rayab snapshot document (`format: "rayab.assignment-snapshot"`).
 * One call reads one snapshot, so an answer never mixes two config versions.
 *
 *   const client = new Client(document);
 *   client.assign("alice", { country: "FR" });            // every served experiment, in config order
 *   client.getParameter("alice", { country: "FR" }, "ranker", "v1");
 */
export class Client {
  /** @param {object | string} document a snapshot document, or its JSON text */
  constructor(document) {
    this._evaluator = new Evaluator(document);
  }

  /** The config version every answer carries. */
  get configVersion() {
    return this._evaluator.configVersion;
  }

  /**
   * Install a newer snapshot; an older or equal config version is ignored (returns false). A document that
   * does not validate throws and leaves the current snapshot serving.
   */
  update(document) {
    const next = new Evaluator(document);
    if (next.configVersion <= this._evaluator.configVersion) return false;
    this._evaluator = next;
    return true;
  }

  /**
   * The assignment of one unit in each requested experiment (every served one without `expIds`).
   * @param {string} unitId
   * @param {Record<string, string | number | boolean> | null} [attributes]
   * @param {{ expIds?: string[] | null, sessionId?: string | null }} [options]
   */
  assign(unitId, attributes = null, options = {}) {
    return this._evaluator.assign(unitId, attributes, options.expIds ?? null, options.sessionId ?? null);
  }

  /**
   * `assign` for many units: one list of assignments per unit, in order.
   * @param {string[]} unitIds
   * @param {Array<Record<string, string | number | boolean> | null> | null} [attributes] one entry per unit
   * @param {{ expIds?: string[] | null, sessionIds?: Array<string | null> | null }} [options]
   */
  assignBatch(unitIds, attributes = null, options = {}) {
    return this._evaluator.assignBatch(unitIds, attributes, options.expIds ?? null, options.sessionIds ?? null);
  }

  /**
   * The parameters a unit sees: merged over its assignments in answer order, the first one carrying a name
   * wins. Units outside an experiment get none of its parameters (keep your defaults).
   */
  getParameters(unitId, attributes = null, options = {}) {
    const merged = {};
    for (const answer of this.assign(unitId, attributes, options)) {
      for (const [name, value] of Object.entries(answer.parameters)) {
        if (!Object.hasOwn(merged, name)) merged[name] = value;
      }
    }
    return merged;
  }

  /**
   * One parameter, or `defaultValue` when no experiment serves it to this unit. Evaluates only the served
   * experiments that define `name`, in config order.
   */
  getParameter(unitId, attributes, name, defaultValue = undefined, options = {}) {
    const answer = this.parameterAnswer(unitId, attributes, name, options);
    return answer === null ? defaultValue : answer.parameters[name];
  }

  /**
   * The assignment that serves parameter `name` to this unit (the one `getParameter` reads), or null when none
   * does: what an exposure logged on use of the parameter records.
   */
  parameterAnswer(unitId, attributes, name, options = {}) {
    const evaluator = this._evaluator;
    const sessionId = options.sessionId ?? null;
    checkIds(unitId, sessionId);
    const checked = checkAttributes(attributes);
    for (const plan of evaluator.byParameter.get(name) ?? []) {
      const answer = plan.decide(unitId, sessionId, checked);
      if (Object.hasOwn(answer.parameters, name)) return answer;
    }
    return null;
  }
}
