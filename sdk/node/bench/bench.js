// In-process evaluation speed of the Node SDK: 100 experiments configured (a targeted one, layers, GrowthBook
// mode); one unit in one experiment (p50 / p99 per call, and calls per second), one unit in all 100, one
// parameter, and the batch form for one experiment. Prints the median of 5 runs.
//
// Usage: node bench/bench.js [--units 200000]

import { Client } from "../src/index.js";

const units = Number(process.argv[process.argv.indexOf("--units") + 1]) || 200000;
const RUNS = 5;

function experiment(i) {
  const base = {
    exp_id: `exp_${i}`, unit: "PROFILE", status: "running", rollout_pct: 50, assignment_salt: `exp_${i}`,
    layer: `exp_${i}`, layer_pct: [0, 100], targeting: {}, consistency: "strict", hash_mode: "rayab",
    hash_version: 1, shipped_variant: "",
    variants: [{ variant_id: "control", traffic_pct: 50, parameters: { [`p${i}`]: "v1" } },
      { variant_id: "treatment", traffic_pct: 50, parameters: { [`p${i}`]: "v2" } }],
  };
  if (i === 0) {
    base.targeting = { all: [{ attr: "country", in: ["FR", "DE", "US"] }, { attr: "app_version", version_gte: "5.2" }] };
  } else if (i < 40) {
    base.layer = `layer_${i % 4}`;
    base.layer_pct = [Math.floor(i / 4) * 10, Math.floor(i / 4) * 10 + 10];
  } else if (i < 50) {
    base.hash_mode = "growthbook";
    base.hash_version = 2;
  }
  return base;
}

const document = {
  format: "rayab.assignment-snapshot", schema_version: 1, config_version: 1,
  experiments: Array.from({ length: 100 }, (_, i) => experiment(i)),
};
const client = new Client(document);
const ids = Array.from({ length: units }, (_, i) => `user-${i}`);
const attributes = { country: "FR", app_version: "5.10" };

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function rate(label, n, body) {
  const rates = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    body();
    rates.push(n / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  console.log(`${label}: ${Math.round(median(rates)).toLocaleString("en-US")}/s`);
}

function latency(label, body) {
  const samples = new Float64Array(units);
  for (let i = 0; i < units; i++) {
    const start = process.hrtime.bigint();
    body(i);
    samples[i] = Number(process.hrtime.bigint() - start) / 1000;
  }
  samples.sort();
  const at = (q) => samples[Math.min(units - 1, Math.floor(q * units))].toFixed(2);
  console.log(`${label}: p50 ${at(0.5)} us, p99 ${at(0.99)} us (timer included)`);
}

const one = { expIds: ["exp_0"] };
let sink = 0;
latency("one unit, one targeted experiment of 100", (i) => { sink += client.assign(ids[i], attributes, one).length; });
rate("one unit, one targeted experiment of 100, calls", units, () => {
  for (let i = 0; i < units; i++) sink += client.assign(ids[i], attributes, one).length;
});
rate("one unit, one layered experiment, calls", units, () => {
  const layered = { expIds: ["exp_5"] };
  for (let i = 0; i < units; i++) sink += client.assign(ids[i], attributes, layered).length;
});
rate("getParameter of one experiment, calls", units, () => {
  for (let i = 0; i < units; i++) sink += client.getParameter(ids[i], attributes, "p0", "v0").length;
});
const all = Math.max(1, Math.floor(units / 50));
rate("one unit in all 100 experiments, unit-experiment assignments", all * 100, () => {
  for (let i = 0; i < all; i++) sink += client.assign(ids[i], attributes).length;
});
const batchAttributes = ids.map(() => attributes);
rate("assignBatch, one experiment, units", units, () => { sink += client.assignBatch(ids, batchAttributes, one).length; });
if (sink === 42) console.log("");
