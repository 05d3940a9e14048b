#!/usr/bin/env node
// Follows a server's WatchConfig and, once it holds MIN_VERSION or newer, assigns every request of a file and
// writes the answers as JSON (the same form as bin/assign-file.js): how the Python tests check the Node SDK
// evaluating from the stream.
//
// Usage: node bin/watch-assign.js HOST:PORT SDK_KEY REQUESTS.json MIN_VERSION OUT.json [EXPOSE_EVERY [MODE [PARAM]]]
//   EXPOSE_EVERY=k exposes every k-th unit (the default 0: none). MODE "explicit" (the default) passes each of
//   its assignments to logExposure, then closes (which flushes); "on_use" and "never" read parameter PARAM
//   through the handle instead (watch.getParameter; "never" also asks logExposure, which it refuses), and the
//   background flusher (every 100 ms) is given up to 10 s to send what was logged before closing:
//   `sent_before_close` says how many it had sent.

import { writeFileSync, readFileSync } from "node:fs";
import { watchConfig } from "../src/watch.js";

const [target, key, requestsPath, minVersion, outPath, exposeEvery, mode = "explicit", param = "ranker"] =
  process.argv.slice(2);
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
    exposures: mode, flushIntervalMs: 100,
  });
  console.log(`following ${target}: config version ${watch.client.configVersion}`);
  if (watch.client.configVersion >= Number(minVersion)) reached();
  await ready;
  const client = watch.client;
  const rows = client.assignBatch(requests.unit_ids, requests.attributes ?? null,
    { sessionIds: requests.session_ids ?? null });
  const every = Number(exposeEvery ?? 0);
  const parameters = [];
  if (every > 0 && mode === "explicit") {
    rows.forEach((row, i) => {
      if (i % every === 0) row.forEach((a) => watch.logExposure(requests.unit_ids[i], a));
    });
  } else if (every > 0) {
    requests.unit_ids.forEach((unitId, i) => {
      if (i % every !== 0) return;
      const attributes = requests.attributes?.[i] ?? null;
      parameters.push(watch.getParameter(unitId, attributes, param, null));
      watch.getParameter(unitId, attributes, param, null);  // a second read is not a second exposure
      if (mode === "never") rows[i].forEach((a) => watch.logExposure(unitId, a));  // refused, and counted
    });
    const deadline = Date.now() + 10000;
    const { stats } = watch;
    while (mode === "on_use" && stats.exposuresSent + stats.exposuresRejected < stats.exposuresLogged
           && Date.now() < deadline) {
      await new Promise((resolve) => { setTimeout(resolve, 20); });
    }
  }
  const sentBeforeClose = watch.stats.exposuresSent;
  const stats = await watch.close();
  writeFileSync(outPath, JSON.stringify({
    config_version: client.configVersion,
    exp_ids: rows.length > 0 ? rows[0].map((a) => a.expId) : [],
    variants: rows.map((row) => row.map((a) => a.variantId)),
    reasons: rows.map((row) => row.map((a) => a.reason)),
    exposures_sent: stats.exposuresSent,
    exposures_dropped: stats.exposuresDropped,
    exposures_logged: stats.exposuresLogged,
    exposures_skipped: stats.exposuresSkipped,
    sent_before_close: sentBeforeClose,
    parameters,
  }));
} catch (err) {
  console.error(`watch-assign: ${err.message}`);
  process.exit(1);
}
