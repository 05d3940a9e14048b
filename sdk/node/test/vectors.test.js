// Every case of the language-neutral vectors (sdk/vectors/assignment_vectors.json, written from the Python
// engine by scripts/gen_assignment_vectors.py) must come out identical here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Client, Evaluator, bucket, gbHash, matches, variantRanges } from "../src/index.js";

const VECTORS = JSON.parse(readFileSync(new URL("../../vectors/assignment_vectors.json", import.meta.url), "utf8"));
const clients = new Map(Object.entries(VECTORS.snapshots).map(([name, doc]) => [name, new Client(doc)]));
const evaluators = new Map(Object.entries(VECTORS.snapshots).map(([name, doc]) => [name, new Evaluator(doc)]));

function describe(c) {
  return JSON.stringify({ snapshot: c.snapshot, unit_id: c.unit_id, session_id: c.session_id, exp_ids: c.exp_ids }).slice(0, 200);
}

function asVector(a) {
  return { exp_id: a.expId, variant_id: a.variantId, parameters: a.parameters, in_experiment: a.inExperiment, reason: a.reason };
}

test("the vectors file is the one this SDK reads", () => {
  assert.equal(VECTORS.format, "rayab.assignment-vectors");
  assert.equal(VECTORS.schema_version, 1);
  assert.ok(VECTORS.cases.length >= 400, "too few cases: the file is truncated");
});

test("md5 buckets", () => {
  for (const { salt, unit_id: unitId, bucket: expected } of VECTORS.md5_bucket) {
    assert.equal(bucket(salt, unitId), expected, JSON.stringify([salt, unitId]));
  }
});

test("GrowthBook hash positions", () => {
  for (const { seed, value, version, position } of VECTORS.growthbook_hash) {
    assert.equal(gbHash(seed, value, version), position, JSON.stringify([seed, value, version]));
  }
});

test("coverage-monotone ranges", () => {
  for (const { traffic_pct: weights, rollout_pct: rollout, ranges } of VECTORS.ranges) {
    assert.deepEqual(variantRanges(weights.map((w) => w / 100), rollout / 100), ranges, JSON.stringify([weights, rollout]));
  }
});

test("targeting rules, every operator against every kind of attribute", () => {
  for (const { rule, attributes, matches: expected } of VECTORS.targeting) {
    assert.equal(matches(rule, attributes), expected, JSON.stringify({ rule, attributes }));
  }
});

test("assignments, parameters and positions of every case", () => {
  for (const c of VECTORS.cases) {
    const client = clients.get(c.snapshot);
    const options = { expIds: c.exp_ids, sessionId: c.session_id };
    const answer = client.assign(c.unit_id, c.attributes, options);
    assert.deepEqual(answer.map(asVector), c.assignments, describe(c));
    for (const a of answer) assert.equal(a.configVersion, VECTORS.snapshots[c.snapshot].config_version);
    assert.deepEqual(client.getParameters(c.unit_id, c.attributes, options), c.parameters, describe(c));
    if (c.exp_ids === null) {
      for (const [name, value] of Object.entries(c.parameters)) {
        assert.deepEqual(client.getParameter(c.unit_id, c.attributes, name, "<default>", options), value, `${describe(c)} ${name}`);
      }
      assert.equal(client.getParameter(c.unit_id, c.attributes, "no_such_parameter", "<default>", options), "<default>");
    }
    const evaluator = evaluators.get(c.snapshot);
    for (const [expId, expected] of Object.entries(c.positions)) {
      const plan = evaluator.plans.get(expId);
      const hashId = plan.hashId(c.unit_id, c.session_id);
      assert.equal(plan.position(hashId), expected.bucket, `${describe(c)} ${expId} bucket`);
      if (expected.layer !== undefined) assert.equal(plan.layerPosition(hashId), expected.layer, `${describe(c)} ${expId} layer`);
    }
  }
});

test("the batch form answers every case of a snapshot at once, identically", () => {
  for (const [name, client] of clients) {
    const cases = VECTORS.cases.filter((c) => c.snapshot === name && c.exp_ids === null);
    const rows = client.assignBatch(cases.map((c) => c.unit_id), cases.map((c) => c.attributes),
      { sessionIds: cases.map((c) => c.session_id) });
    assert.equal(rows.length, cases.length);
    rows.forEach((row, i) => assert.deepEqual(row.map(asVector), cases[i].assignments, describe(cases[i])));
  }
});

test("requests the engine rejects are rejected with the same kind and field", () => {
  for (const c of VECTORS.errors) {
    const client = clients.get(c.snapshot);
    assert.throws(() => client.assign(c.unit_id, c.attributes, { expIds: c.exp_ids, sessionId: c.session_id }),
      (err) => err.code === c.error && err.field === c.field, JSON.stringify(c).slice(0, 200));
  }
});
