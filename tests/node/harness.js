// Starts the real `ralph-mcp serve` binary on a fresh workspace for the node tests.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const BINARY = process.env.RALPH_MCP_BIN ?? resolve(here, "../../target/debug/ralph-mcp");

// Every temp directory a test makes is removed when its test file's process exits.
const made = [];
process.on("exit", () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function makeWorkspace() {
  const base = tempDir("ralph-mcp-node-");
  const ws = join(base, "ws");
  mkdirSync(join(ws, "src"), { recursive: true });
  writeFileSync(join(ws, "README.md"), "# Demo\n\nhello from node\n");
  writeFileSync(join(ws, "src", "lib.rs"), "pub fn answer() -> u32 { 42 }\n");
  mkdirSync(join(base, "outside"));
  writeFileSync(join(base, "outside", "secret.txt"), "TOP-SECRET-VALUE\n");
  symlinkSync(join(base, "outside", "secret.txt"), join(ws, "link-to-secret"));
  symlinkSync(join(base, "outside"), join(ws, "link-to-outside"));
  return { base, ws };
}

export async function startServer(ws, { capabilities, token, args = [] } = {}) {
  if (!existsSync(BINARY)) throw new Error(`build the binary first: ${BINARY}`);
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("RALPH_MCP_") || k === "MCP_AUTH_TOKEN") delete env[k];
  if (capabilities) {
    env.RALPH_MCP_SESSION_JSON = JSON.stringify({ session_id: "node-session", run_id: "run-node", drain: "development", capabilities });
  }
  if (token) env.MCP_AUTH_TOKEN = token;
  const proc = spawn(BINARY, ["serve", "--port", "0", "--workspace", ws, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
  const url = await new Promise((resolveUrl, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no banner: ${buf}`)), 20000);
    proc.stderr.on("data", (chunk) => {
      buf += chunk.toString();
      const m = buf.match(/serving (http:\/\/\S+\/mcp)/);
      if (m) { clearTimeout(timer); resolveUrl(m[1]); }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${buf}`)); });
  });
  proc.removeAllListeners("exit");
  return {
    url,
    proc,
    stop: () => new Promise((res) => {
      if (proc.exitCode !== null) return res(proc.exitCode);
      proc.on("exit", (code) => res(code));
      proc.kill("SIGTERM");
    }),
  };
}
