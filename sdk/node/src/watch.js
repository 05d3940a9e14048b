// Following a server's config from Node: the WatchConfig stream feeding a Client (`@rayab/sdk/watch`).
//
// Node has no gRPC of its own, so this module (and only this one) needs @grpc/grpc-js, the official pure-JavaScript
// gRPC (no native build), and @grpc/proto-loader to read protos/rayab/v1/assignment.proto; both are optional
// dependencies of the package, and the evaluator works without them. The stream starts with the server's current
// snapshot, then sends every newer version; when it breaks (server restart, network, or `staleMs` without even a
// heartbeat) the client keeps serving its last snapshot and this reconnects with jittered exponential backoff,
// asking only for versions newer than the one it holds.
//
// Exposures, as the caller says (`exposures`): "on_use" (the default) logs the experiment that served a parameter
// or a variant read through `handle.getParameter` / `handle.variant`; "explicit" logs only what
// `handle.logExposure(unitId, assignment)` is given (it works in "on_use" too); "never" logs nothing and counts
// what it skipped. A logged exposure is a measured assignment (reason "assigned"), buffered once per (experiment,
// unit), at most `maxPending` (100,000; past that they are dropped and counted). A background flusher sends them
// with LogExposures every `flushIntervalMs` (1000; sooner from 5,000 pending), backing off to 30 s while the
// server is unreachable (kept, bounded, counted when dropped); `flush()` sends now and `close()` retries for up
// to `closeTimeoutMs` (10000) before counting what is left as dropped.

import { fileURLToPath } from "node:url";
import { Client } from "./client.js";
import { ValidationError } from "./errors.js";

const DEFAULT_PROTO = fileURLToPath(new URL("../../../protos/rayab/v1/assignment.proto", import.meta.url));

/**
 * Follow `target` (host:port) with `sdkKey`; resolves once the first snapshot is installed, with a handle
 * `{ client, getParameter(), variant(), logExposure(), flush(), close(), stats }`. Options: `protoPath` (the
 * assignment.proto; default: the repository's), `backoffMs` (100), `maxBackoffMs` (5000), `staleMs` (35000),
 * `waitMs` (10000), `onUpdate(version)`, and for exposures `exposures` ("on_use", "explicit", "never"),
 * `maxPending` (100000), `flushIntervalMs` (1000), `closeTimeoutMs` (10000).
 */
export async function watchConfig(target, sdkKey, options = {}) {
  const mode = options.exposures ?? "on_use";
  if (!["on_use", "explicit", "never"].includes(mode)) {
    throw new ValidationError("exposures", mode, 'must be "on_use", "explicit" or "never"');
  }
  const grpc = await import("@grpc/grpc-js");
  const loader = await import("@grpc/proto-loader");
  const definition = loader.loadSync(options.protoPath ?? DEFAULT_PROTO, { keepCase: true, longs: Number, defaults: true });
  const service = grpc.loadPackageDefinition(definition).rayab.v1.AssignmentService;
  const stub = new service(target, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${sdkKey}`);
  const backoffMs = options.backoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  const staleMs = options.staleMs ?? 35000;
  const stats = { connects: 0, breaks: 0, lastError: "", connected: false };
  let client = null;
  let call = null;
  let closed = false;
  let delay = backoffMs;
  let lastMessage = Date.now();
  let firstResolve;
  let firstReject;
  const first = new Promise((resolve, reject) => { firstResolve = resolve; firstReject = reject; });

  const install = (text) => {
    if (client === null) {
      client = new Client(text);
    } else if (!client.update(text)) {
      return;
    }
    options.onUpdate?.(client.configVersion);
    firstResolve();
  };

  const connect = () => {
    if (closed) return;
    lastMessage = Date.now();
    call = stub.WatchConfig({ known_version: client?.configVersion ?? 0 }, metadata);
    call.on("data", (message) => {
      lastMessage = Date.now();
      if (!stats.connected) { stats.connected = true; stats.connects += 1; delay = backoffMs; }
      if (!message.snapshot_json) return; // a heartbeat
      try { install(message.snapshot_json); } catch (err) { stats.lastError = String(err); }
    });
    call.on("error", (err) => { stats.lastError = `${err.code}: ${err.details}`; });
    call.on("close", () => {
      if (stats.connected) stats.breaks += 1;
      stats.connected = false;
      call = null;
      if (closed) return;
      setTimeout(connect, delay * (0.5 + Math.random() / 2)).unref();
      delay = Math.min(delay * 2, maxBackoffMs);
    });
  };
  const watchdog = setInterval(() => {
    if (call !== null && Date.now() - lastMessage > staleMs) call.cancel();
  }, Math.min(1000, staleMs / 4));
  watchdog.unref();
  connect();

  const maxPending = options.maxPending ?? 100000;
  const flushIntervalMs = options.flushIntervalMs ?? 1000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 10000;
  let pending = [];
  const seen = new Set();
  Object.assign(stats, { exposuresLogged: 0, exposuresSent: 0, exposuresDropped: 0, exposuresRejected: 0,
    exposuresSkipped: 0, sendFailures: 0 });

  const send = (rows) => new Promise((resolve, reject) => {
    const stream = stub.LogExposures(metadata, { deadline: Date.now() + 10000 }, (err, reply) => {
      if (err) reject(err); else resolve(reply);
    });
    for (let i = 0; i < rows.length; i += 5000) {
      stream.write({ exposures: rows.slice(i, i + 5000) });
    }
    stream.end();
  });

  // One send at a time: a flush waits for the one in flight, so rows put back after a failure keep their order.
  let inFlight = Promise.resolve(true);
  const sendPending = async () => {
    const rows = pending;
    pending = [];
    if (rows.length === 0) return true;
    try {
      const reply = await send(rows);
      stats.exposuresSent += reply.accepted;
      stats.exposuresRejected += reply.rejected;
      stats.exposuresDropped += reply.dropped;
      return true;
    } catch (err) {
      stats.lastError = `${err.code}: ${err.details}`;
      stats.sendFailures += 1;
      const room = Math.max(maxPending - pending.length, 0);
      stats.exposuresDropped += Math.max(rows.length - room, 0);
      pending = rows.slice(0, room).concat(pending);
      return false;
    }
  };
  const flushOnce = () => {
    inFlight = inFlight.then(sendPending);
    return inFlight;
  };

  // The background flusher: every flushIntervalMs while sends succeed, doubling up to 30 s while they fail.
  let flushDelay = flushIntervalMs;
  let flushTimer = null;
  const schedule = (delay) => {
    if (closed || mode === "never") return;
    clearTimeout(flushTimer);
    flushTimer = setTimeout(async () => {
      flushTimer = null;
      const ok = await flushOnce();
      flushDelay = ok ? flushIntervalMs : Math.min(flushDelay * 2, 30000);
      schedule(flushDelay);
    }, delay);
    flushTimer.unref();
  };

  const log = (unitId, assignment) => {
    if (!assignment.inExperiment) return false;
    if (mode === "never") { stats.exposuresSkipped += 1; return false; }
    const key = `${assignment.expId}\u0000${unitId}`;
    if (seen.has(key)) return false;
    if (pending.length >= maxPending) { stats.exposuresDropped += 1; return false; }
    seen.add(key);
    pending.push({ exp_id: assignment.expId, unit_id: unitId, variant_id: assignment.variantId,
      exposed_at_us: Date.now() * 1000 });
    stats.exposuresLogged += 1;
    if (pending.length === 5000 && flushTimer !== null) schedule(0);
    return true;
  };

  const handle = {
    get client() { return client; },
    stats,
    exposureMode: mode,
    logExposure(unitId, assignment) {
      return log(unitId, assignment);
    },
    getParameter(unitId, attributes, name, defaultValue = undefined, options = {}) {
      const answer = client.parameterAnswer(unitId, attributes, name, options);
      if (answer === null) return defaultValue;
      if (mode === "on_use") log(unitId, answer);
      return answer.parameters[name];
    },
    variant(unitId, attributes, expId, options = {}) {
      const [answer] = client.assign(unitId, attributes, { expIds: [expId], sessionId: options.sessionId ?? null });
      if (mode === "on_use") log(unitId, answer);
      return answer.variantId;
    },
    flush() {
      return flushOnce();
    },
    async close() {
      closed = true;
      clearInterval(watchdog);
      clearTimeout(flushTimer);
      call?.cancel();
      const deadline = Date.now() + closeTimeoutMs;
      let delay = 50;
      while (!(await flushOnce()) && Date.now() + delay < deadline) {
        await new Promise((resolve) => { setTimeout(resolve, delay); });
        delay = Math.min(delay * 2, 1000);
      }
      stats.exposuresDropped += pending.length;  // undeliverable before the deadline
      pending = [];
      stub.close();
      return stats;
    },
  };
  schedule(flushDelay);
  const timer = setTimeout(() => firstReject(new Error(
    `no config snapshot from ${target} within ${options.waitMs ?? 10000} ms: ${stats.lastError || "no answer"}`)),
  options.waitMs ?? 10000);
  try {
    await first;
  } catch (err) {
    handle.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return handle;
}
