// The client API around the evaluation the vectors pin: snapshot updates, parameters with defaults, the batch
// form's checks, and clear errors for bad documents and requests.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Client, SnapshotError, ValidationError, matches } from "../src/index.js";

const VECTORS = JSON.parse(readFileSync(new URL("../../vectors/assignment_vectors.json", import.meta.url), "utf8"));
const BASE = VECTORS.snapshots.base;
const RAISED = VECTORS.snapshots.rollout_raised;

function edited(change) {
  const doc = structuredClone(BASE);
  change(doc);
  return doc;
}

test("a newer snapshot replaces the current one; an older one, or one that does not validate, does not", () => {
  const client = new Client(JSON.stringify(BASE));
  assert.equal(client.configVersion, 41);
  assert.equal(client.update(RAISED), true);
  assert.equal(client.configVersion, 42);
  assert.equal(client.update(BASE), false);
  assert.equal(client.update(RAISED), false);
  assert.throws(() => client.update({ ...VECTORS.snapshots.home_a_shipped, schema_version: 2 }), SnapshotError);
  assert.equal(client.configVersion, 42);
  assert.ok(client.assign("user-1").every((a) => a.configVersion === 42));
});

test("getParameter falls back to the default outside every experiment that serves the parameter", () => {
  const client = new Client(BASE);
  const cases = VECTORS.cases.filter((c) => c.snapshot === "base" && c.exp_ids === null);
  const outside = cases.find((c) => !("ranker" in c.parameters));
  const inside = cases.find((c) => "ranker" in c.parameters);
  assert.equal(client.getParameter(outside.unit_id, outside.attributes, "ranker", "v0", { sessionId: outside.session_id }), "v0");
  assert.equal(client.getParameter(inside.unit_id, inside.attributes, "ranker", "v0", { sessionId: inside.session_id }),
    inside.parameters.ranker);
  // a shipped experiment serves its parameters to everyone, before later experiments that set the same name
  assert.equal(client.getParameter("anyone", {}, "checkout_flow", "old-default"), "new");
  assert.equal(client.getParameter("anyone", {}, "never_defined"), undefined);
});

test("answers are frozen: a caller cannot change what the next caller sees", () => {
  const client = new Client(BASE);
  const [first] = client.assign("user-3", {}, { expIds: ["checkout"] });
  assert.throws(() => { first.parameters.button_color = "pink"; }, TypeError);
  assert.throws(() => { first.variantId = "x"; }, TypeError);
  assert.deepEqual(client.assign("user-3", {}, { expIds: ["checkout"] })[0], first);
});

test("bad documents are refused with the path of the field", () => {
  const cases = [
    [edited((d) => { d.format = "other"; }), "snapshot.format"],
    [edited((d) => { d.config_version = -1; }), "snapshot.config_version"],
    [edited((d) => { d.experiments[1].targeting = { attr: "country", within: ["FR"] }; }), "snapshot.experiments[1].targeting.within"],
    [edited((d) => { d.experiments[1].targeting = { all: [{ attr: "age", gte: "18" }] }; }), "snapshot.experiments[1].targeting.all[0].gte"],
    [edited((d) => { d.experiments[0].variants[0].traffic_pct = 35; }), "snapshot.experiments[0].variants[*].traffic_pct"],
    [edited((d) => { d.experiments[0].hash_mode = "sha1"; }), "snapshot.experiments[0].hash_mode"],
    [edited((d) => { d.experiments[0].hash_version = 2; }), "snapshot.experiments[0].hash_version"],
    [edited((d) => { d.experiments[2].exp_id = "checkout"; }), "snapshot.experiments[2].exp_id"],
    [edited((d) => { d.experiments[0].assignment_salt = "\ud800"; }), "snapshot.experiments[0].assignment_salt"],
    ["{not json", "snapshot"],
  ];
  for (const [doc, field] of cases) {
    assert.throws(() => new Client(doc), (err) => err instanceof SnapshotError && err.field === field, field);
  }
});

test("request errors name the field; a lone surrogate has no UTF-8 bytes to hash", () => {
  const client = new Client(BASE);
  const rejects = (call, field) => assert.throws(call, (err) => err instanceof ValidationError && err.field === field, field);
  rejects(() => client.assign("a\ud800b"), "unit_id");
  rejects(() => client.assign("u", { age: Number.NaN }), "attributes.age");
  rejects(() => client.assign("u", ["FR"]), "attributes");
  rejects(() => client.assignBatch(["a", "b"], [{}]), "attributes");
  rejects(() => client.assignBatch(["a", 3]), "unit_ids[1]");
  rejects(() => client.assignBatch(["a", "b"], null, { sessionIds: ["s"] }), "session_ids");
  rejects(() => client.assignBatch(["a", "b"], [{}, { x: undefined }]), "attributes[1].x");
  assert.match(new ValidationError("unit_id", "x".repeat(500), "rule").message, /^unit_id == "x{60}\.\.\.: rule$/);
});

test("an integral JSON number is an integer: string and version conditions read its decimal text", () => {
  assert.equal(matches({ attr: "v", eq: "7" }, { v: 7 }), true);
  assert.equal(matches({ attr: "v", eq: "7" }, { v: 7.5 }), false);
  assert.equal(matches({ attr: "v", version_eq: "7.0" }, { v: 7 }), true);
  assert.equal(matches({ attr: "v", eq: "100000000000000000000" }, { v: 1e20 }), true);
});
