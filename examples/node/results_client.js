// Query rayab's ResultsService from Node using only protos/rayab/v1/*.proto.
//
//   npm install
//   node results_client.js 127.0.0.1:50051 ranker_v2 2026-11-23T00 2026-11-24T00 ctr
//
// Prints one JSON object per result row.
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const protoRoot = process.env.RAYAB_PROTOS || path.resolve(__dirname, "..", "..", "protos");
const definition = protoLoader.loadSync("rayab/v1/results.proto", {
  includeDirs: [protoRoot],
  keepCase: true,
  longs: Number,
  defaults: true,
});
const rayab = grpc.loadPackageDefinition(definition).rayab.v1;

const [target, expId, startHour, endHour, ...metrics] = process.argv.slice(2);
const client = new rayab.ResultsService(target, grpc.credentials.createInsecure());
const deadline = new Date(Date.now() + 30000);
client.QueryResults(
  { query: { exp_id: expId, start_hour: startHour, end_hour: endHour, metrics } },
  { deadline },
  (error, reply) => {
    if (error) {
      console.error(`${grpc.status[error.code]}: ${error.details}`);
      process.exit(2);
    }
    for (const row of reply.results) {
      console.log(JSON.stringify({
        metric: row.metric, variant_id: row.variant_id, estimate: row.estimate,
        ci_lower: row.ci_lower, ci_upper: row.ci_upper, rel_diff: row.rel_diff, pvalue: row.pvalue,
      }));
    }
  },
);
