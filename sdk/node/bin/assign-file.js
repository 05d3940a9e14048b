#!/usr/bin/env node
// Assigns every request of a file with the SDK and writes the answers as JSON: how other test suites compare
// this SDK with another engine on many units at once.
//
// Usage: node bin/assign-file.js SNAPSHOT.json REQUESTS.json OUT.json
//   REQUESTS.json: {"unit_ids": [...], "session_ids": [...] | null, "attributes": [...] | null}
//   OUT.json: {"config_version": N, "exp_ids": [...], "variants": [[variant id or null per experiment], ...],
//              "reasons": [[reason per experiment], ...]}

import { readFileSync, writeFileSync } from "node:fs";
import { Client } from "../src/index.js";

const [snapshotPath, requestsPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: node bin/assign-file.js SNAPSHOT.json REQUESTS.json OUT.json");
  process.exit(2);
}
try {
  const client = new Client(readFileSync(snapshotPath, "utf8"));
  const requests = JSON.parse(readFileSync(requestsPath, "utf8"));
  const rows = client.assignBatch(requests.unit_ids, requests.attributes ?? null,
    { sessionIds: requests.session_ids ?? null });
  const expIds = rows.length > 0 ? rows[0].map((a) => a.expId) : [];
  writeFileSync(outPath, JSON.stringify({
    config_version: client.configVersion,
    exp_ids: expIds,
    variants: rows.map((row) => row.map((a) => a.variantId)),
    reasons: rows.map((row) => row.map((a) => a.reason)),
  }));
} catch (err) {
  console.error(`assign-file: ${err.message}`);
  process.exit(1);
}
