// Assign in-process from a snapshot document: node examples/quickstart.js SNAPSHOT.json
import { readFileSync } from "node:fs";
import { Client } from "@rayab/sdk";

const client = new Client(readFileSync(process.argv[2], "utf8"));
const attributes = { country: "FR", app_version: "5.10" };
for (const a of client.assign("alice", attributes)) {
  console.log(`${a.expId}: ${a.variantId ?? "-"} (${a.reason}) ${JSON.stringify(a.parameters)}`);
}
console.log("ranker =", client.getParameter("alice", attributes, "ranker", "v1"));
const rows = client.assignBatch(["bob", "carol"], [{ country: "US", app_version: "6.0" }, { country: "JP" }]);
console.log("batch:", rows.map((row) => row.map((a) => a.variantId ?? "-").join(",")).join(" | "));
