// The WatchConfig follower's options that are checked before any connection: the exposure mode.

import { test } from "node:test";
import assert from "node:assert/strict";
import { watchConfig } from "../src/watch.js";
import { ValidationError } from "../src/index.js";

test("an unknown exposure mode is refused naming the option, before any connection", async () => {
  await assert.rejects(watchConfig("127.0.0.1:1", "key", { exposures: "sometimes" }),
    (err) => err instanceof ValidationError && err.field === "exposures" && /"on_use", "explicit" or "never"/.test(err.message));
});
