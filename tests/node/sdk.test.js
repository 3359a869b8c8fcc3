// The official TypeScript MCP SDK against the real binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { makeWorkspace, startServer } from "./harness.js";

const ALL = ["workspace.read", "workspace.metadata_read", "workspace.write_ephemeral", "workspace.write_tracked", "workspace.edit", "workspace.delete"];

async function connect(url, token) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
  });
  const client = new Client({ name: "node-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

const textOf = (res) => res.content.map((c) => c.text ?? "").join("");

test("initialize, tools/list and calls work", async () => {
  const { ws } = makeWorkspace();
  const srv = await startServer(ws, { capabilities: ALL, token: "node-token" });
  try {
    const client = await connect(srv.url, "node-token");
    const { tools } = await client.listTools();
    const names = new Set(tools.map((t) => t.name));
    assert.ok(names.has("read_file") && names.has("mcp__ralph__read_file") && names.has("grep_files"));
    const res = await client.callTool({ name: "read_file", arguments: { path: "README.md" } });
    assert.equal(res.isError, false);
    assert.equal(textOf(res), "# Demo\n\nhello from node\n");
    const grep = await client.callTool({ name: "grep_files", arguments: { pattern: "answer", path: "." } });
    const found = JSON.parse(textOf(grep));
    assert.deepEqual(found.matches.map((m) => [m.path, m.line]), [["src/lib.rs", 1]]);
    await client.ping();
    await client.setLoggingLevel("warning");
    await client.close();
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test("a read-only session does not see write tools", async () => {
  const { ws } = makeWorkspace();
  const srv = await startServer(ws, { capabilities: ["workspace.read"] });
  try {
    const client = await connect(srv.url);
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("read_file"));
    assert.ok(!names.includes("write_file") && !names.includes("stat_path"));
    const res = await client.callTool({ name: "stat_path", arguments: { path: "README.md" } });
    assert.equal(res.isError, true);
    assert.match(textOf(res), /workspace\.metadata_read/);
    await client.close();
  } finally {
    await srv.stop();
  }
});

test("escapes through .., absolute paths and symlinks are refused", async () => {
  const { base, ws } = makeWorkspace();
  const srv = await startServer(ws, { capabilities: ALL });
  try {
    const client = await connect(srv.url);
    for (const path of ["../outside/secret.txt", `${base}/outside/secret.txt`, "link-to-secret", "link-to-outside/secret.txt"]) {
      const res = await client.callTool({ name: "read_file", arguments: { path } });
      assert.equal(res.isError, true, path);
      assert.ok(!textOf(res).includes("TOP-SECRET-VALUE"), path);
    }
    await client.close();
  } finally {
    await srv.stop();
  }
});

test("unknown tools are a -32602 protocol error", async () => {
  const { ws } = makeWorkspace();
  const srv = await startServer(ws, { capabilities: ALL });
  try {
    const client = await connect(srv.url);
    await assert.rejects(client.callTool({ name: "does_not_exist", arguments: {} }), (err) => {
      assert.equal(err.code, -32602);
      return true;
    });
    await client.close();
  } finally {
    await srv.stop();
  }
});
