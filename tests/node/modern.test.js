// The TypeScript SDK v2 client (@modelcontextprotocol/client), pinned to MCP 2026-07-28:
// no initialize, no session, per-request _meta; and in auto mode, where server/discover
// must select the modern era.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { readdirSync, readFileSync } from "node:fs";
import { makeWorkspace, startServer } from "./harness.js";

/** Live processes whose command line contains `marker`. */
function running(marker) {
  const out = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
      if (cmd.includes(marker) && state !== "Z") out.push(pid);
    } catch {}
  }
  return out;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const ALL = ["workspace.read", "workspace.metadata_read", "process.exec_bounded"];
const textOf = (res) => res.content.map((c) => c.text ?? "").join("");

async function connect(url, token, mode) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "node-v2", version: "1.0.0" }, { versionNegotiation: { mode } });
  await client.connect(transport);
  return client;
}

for (const [label, mode] of [["pinned to 2026-07-28", { pin: "2026-07-28" }], ["auto", "auto"]]) {
  test(`SDK v2 ${label}: discovery, tools, resources, no session`, async () => {
    const { ws } = makeWorkspace();
    const srv = await startServer(ws, { capabilities: ALL, token: "v2-token" });
    try {
      const client = await connect(srv.url, "v2-token", mode);
      assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
      assert.equal(client.getServerVersion()?.name, "ralph-mcp");
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      assert.ok(names.includes("read_file"));
      assert.equal(new Set(names).size, names.length);
      const res = await client.callTool({ name: "read_file", arguments: { path: "README.md" } });
      assert.equal(res.isError, false);
      assert.equal(textOf(res), "# Demo\n\nhello from node\n");
      const templates = await client.listResourceTemplates();
      assert.equal(templates.resourceTemplates[0].uriTemplate, "ralph://media/{id}");
      await assert.rejects(client.readResource({ uri: "ralph://media/00000000-0000-0000-0000-000000000000" }), /not found/i);
      await client.close();
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });
}

test("SDK v2 pinned: an aborted call is cancelled on the server", async () => {
  const { ws } = makeWorkspace();
  const srv = await startServer(ws, { capabilities: ALL, token: "v2-token" });
  try {
    const client = await connect(srv.url, "v2-token", { pin: "2026-07-28" });
    const marker = `sleep ${600000 + (Date.now() % 100000)}`;
    const ctl = new AbortController();
    const call = client.callTool({ name: "exec", arguments: { command: marker, timeout_ms: 60000 } }, { signal: ctl.signal });
    for (let i = 0; i < 200 && running(marker).length === 0; i++) await sleep(25);
    assert.ok(running(marker).length > 0, "the command never started");
    ctl.abort();
    await assert.rejects(call);
    for (let i = 0; i < 200 && running(marker).length > 0; i++) await sleep(25);
    assert.deepEqual(running(marker), [], "the command outlived the aborted call");
    // The server is free again: the next call is answered at once.
    const res = await client.callTool({ name: "stat_path", arguments: { path: "README.md" } });
    assert.equal(res.isError, false);
    await client.close();
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
