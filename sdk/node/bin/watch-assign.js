#!/usr/bin/env node
// Follows a server's WatchConfig and, once it holds MIN_VERSION or newer, assigns every request of a file and
// writes the answers as JSON (the same form as bin/assign-file.js): how the Python tests check the Node SDK
// evaluating from the stream.
//
// Usage: node bin/watch-assign.js HOST:PORT SDK_KEY REQUESTS.json MIN_VERSION OUT.json [EXPOSE_EVERY]
//   EXPOSE_EVERY=k logs the exposures of every k-th unit (LogExposures) before closing; the default 0 logs none.

import { writeFileSync, readFileSync } from "node:fs";
import { watchConfig } from "../src/watch.js";

const [target, key, requestsPath, minVersion, outPath, exposeEvery] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: node bin/watch-assign.js HOST:PORT SDK_KEY REQUESTS.json MIN_VERSION OUT.json");
  process.exit(2);
}
try {
  const requests = JSON.parse(readFileSync(requestsPath, "utf8"));
  let reached;
  const ready = new Promise((resolve) => { reached = resolve; });
  const watch = await watchConfig(target, key, {
    onUpdate: (version) => { if (version >= Number(minVersion)) reached(); },
  });
  console.log(`following ${target}: config version ${watch.client.configVersion}`);
  if (watch.client.configVersion >= Number(minVersion)) reached();
  await ready;
  const client = watch.client;
  const rows = client.assignBatch(requests.unit_ids, requests.attributes ?? null,
    { sessionIds: requests.session_ids ?? null });
  const every = Number(exposeEvery ?? 0);
  if (every > 0) {
    rows.forEach((row, i) => {
      if (i % every === 0) row.forEach((a) => watch.logExposure(requests.unit_ids[i], a));
    });
  }
  const stats = await watch.close();
  writeFileSync(outPath, JSON.stringify({
    config_version: client.configVersion,
    exp_ids: rows.length > 0 ? rows[0].map((a) => a.expId) : [],
    variants: rows.map((row) => row.map((a) => a.variantId)),
    reasons: rows.map((row) => row.map((a) => a.reason)),
    exposures_sent: stats.exposuresSent,
    exposures_dropped: stats.exposuresDropped,
  }));
} catch (err) {
  console.error(`watch-assign: ${err.message}`);
  process.exit(1);
}
