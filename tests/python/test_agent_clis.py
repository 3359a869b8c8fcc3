"""The real agent CLIs under `ralph-mcp run`, each talking to a scripted model on loopback.

For Claude Code, Codex and OpenCode (pinned in tests/agents/package-lock.json), every test
shows that `ralph-mcp run --agent X -- <cli> …`, with auth on:
- connects and lists each ralph tool once (no `mcp__ralph__` aliases beside the raw names),
- calls `read_file`, and the file's content reaches the model's next request,
- after a `kill -9` of the server in the middle of the run (between the two calls), the
  next call still works, served by a new server process on the same endpoint,
- keeps the user's own configuration (the model endpoint comes from it) and leaves no
  server, run directory or token file behind.
The MCP Inspector's CLI does the same as a plain client under `--agent generic`.

These run against the release binary (RALPH_MCP_RELEASE_BIN, built by scripts/test).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from fake_model import FINAL_TEXT, FakeModel
from procs import serve_pids, serving_pid, wait_for

BIN = Path(os.environ.get("RALPH_MCP_RELEASE_BIN", REPO / "target" / "release" / "ralph-mcp"))
CLIS = REPO / "tests" / "agents" / "node_modules" / ".bin"
FIRST = "first-file-content-7d1f"
SECOND = "second-file-content-92ab"


@pytest.fixture
def box(tmp_path):
    """A workspace with two files, a private HOME and TMPDIR, and the base environment."""
    assert BIN.exists(), f"build the release binary first: cargo build --release (looked for {BIN})"
    assert (CLIS / "claude").exists(), "install the agent CLIs first: scripts/setup-test-deps"
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "first.txt").write_text(FIRST + "\n")
    (ws / "second.txt").write_text(SECOND + "\n")
    home = tmp_path / "home"
    home.mkdir()
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RALPH_MCP_", "MCP_AUTH", "CODEX_", "OPENCODE", "ANTHROPIC_", "CLAUDE_", "XDG_"))}
    env.update(
        HOME=str(home),
        TMPDIR=str(tmpdir),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        RALPH_MCP_SUPERVISION_INTERVAL_MS="100",
    )
    return ws, home, env


def killer(ws: Path, killed: list[int]):
    """The model's pause between its two calls: kill -9 the server, wait for the next one."""

    def between(_k: int) -> None:
        pid = wait_for(lambda: serving_pid(ws), 5)
        assert pid, f"no serving server among {serve_pids(ws)}"
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        assert wait_for(lambda: (p := serving_pid(ws)) not in killed and p, 10), "no server came back"

    return between


def run_agent(ws: Path, env: dict, agent: str, argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN), "run", "--workspace", str(ws), "--agent", agent, "--", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_conversation(model: FakeModel, proc: subprocess.CompletedProcess, killed: list[int], read_name: str):
    """The script ran to the end: both files reached the model, one server was killed."""
    detail = f"rc={proc.returncode}\nstdout={proc.stdout[-2000:]}\nstderr={proc.stderr[-4000:]}\nerrors={model.errors}"
    assert proc.returncode == 0, detail
    assert model.errors == [], detail
    assert len(model.turns) >= 3, f"the model saw {len(model.turns)} turns of the conversation\n{detail}"
    first = model.turns[0]
    ralph = [n for n in first.tool_names if "ralph" in n]
    assert read_name in ralph, (read_name, ralph)
    reads = [n for n in ralph if n.endswith("read_file") and "read_file" in n and not n.endswith("multiple_files")]
    assert reads == [read_name], f"read_file is listed {len(reads)} times: {reads}"
    assert not [n for n in ralph if "mcp__ralph__mcp__ralph" in n or n.count("read_file") > 1]
    assert len(set(ralph)) == len(ralph), f"duplicate tool names: {ralph}"
    assert not [n for n in ralph if re.search(r"mcp__ralph__.*mcp__ralph__", n)]
    last = model.turns[-1]
    assert len(last.tool_results) == 2, last.tool_results
    assert FIRST in last.tool_results[0], last.tool_results
    assert SECOND in last.tool_results[1], f"the call after kill -9 did not work: {last.tool_results[1]}"
    assert len(killed) == 1, killed
    assert FINAL_TEXT in proc.stdout + proc.stderr, detail


def assert_clean(ws: Path, env: dict):
    assert wait_for(lambda: not serve_pids(ws), 5), f"orphan servers: {serve_pids(ws)}"
    tmp = ws / ".agent" / "tmp"
    runs = [p.name for p in tmp.iterdir() if p.name.startswith("run-")] if tmp.exists() else []
    assert runs == [], f"run directories left behind: {runs}"
    # The CLIs keep their own files in $TMPDIR; none of ours may be there.
    ours = [p for p in Path(env["TMPDIR"]).rglob("*") if "ralph" in p.name]
    assert ours == [], ours


def test_claude_code(box):
    ws, _home, env = box
    killed: list[int] = []
    model = FakeModel(files=["first.txt", "second.txt"], between=killer(ws, killed))
    url = model.start()
    try:
        env.update(
            ANTHROPIC_BASE_URL=url,
            ANTHROPIC_API_KEY="sk-fake-key",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            # Claude Code otherwise defers MCP tools behind its ToolSearch tool, which the
            # scripted model does not drive; with it off every tool is in each request.
            ENABLE_TOOL_SEARCH="false",
        )
        # The prompt after `--`: run must put its --mcp-config before it.
        proc = run_agent(ws, env, "claude", [str(CLIS / "claude"), "-p", "--allowedTools", "mcp__ralph", "--", "Read first.txt and second.txt."])
    finally:
        model.stop()
    assert_conversation(model, proc, killed, "mcp__ralph__read_file")
    assert_clean(ws, env)


def test_codex(box, tmp_path):
    ws, _home, env = box
    killed: list[int] = []
    model = FakeModel(files=["first.txt", "second.txt"], between=killer(ws, killed))
    url = model.start()
    # The user's own Codex configuration: the model endpoint lives only here, so the run
    # reaches the scripted model only if run kept this file.
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        'model = "fake-model"\nmodel_provider = "fake"\n\n'
        f'[model_providers.fake]\nname = "fake"\nbase_url = "{url}/v1"\nwire_api = "responses"\nenv_key = "FAKE_MODEL_KEY"\n'
    )
    before = (codex_home / "config.toml").read_text()
    try:
        env.update(CODEX_HOME=str(codex_home), FAKE_MODEL_KEY="fake-key")
        proc = run_agent(ws, env, "codex", [str(CLIS / "codex"), "exec", "--skip-git-repo-check", "Read first.txt and second.txt."])
    finally:
        model.stop()
    # Codex names the namespace mcp__ralph and the tool read_file.
    assert_conversation(model, proc, killed, "mcp__ralph__read_file")
    assert "requires approval" not in proc.stderr, proc.stderr[-2000:]
    assert "Refusing to create helper binaries" not in proc.stderr, proc.stderr[-2000:]
    assert (codex_home / "config.toml").read_text() == before, "run changed the user's config.toml"
    assert_clean(ws, env)


def test_opencode(box, tmp_path):
    ws, _home, env = box
    killed: list[int] = []
    model = FakeModel(files=["first.txt", "second.txt"], between=killer(ws, killed))
    url = model.start()
    # The user's own OpenCode configuration names the provider; run adds ralph through
    # OPENCODE_CONFIG_CONTENT, which OpenCode merges over it.
    config = tmp_path / "opencode.json"
    config.write_text(
        json.dumps(
            {
                "$schema": "https://opencode.ai/config.json",
                "provider": {
                    "fake": {
                        "npm": "@ai-sdk/openai-compatible",
                        "name": "Fake",
                        "options": {"baseURL": f"{url}/v1", "apiKey": "fake-key"},
                        "models": {"fake-model": {"name": "Fake", "tool_call": True}},
                    }
                },
                "model": "fake/fake-model",
            }
        )
    )
    try:
        env.update(OPENCODE_CONFIG=str(config), OPENCODE_DISABLE_AUTOUPDATE="1", OPENCODE_DISABLE_MODELS_FETCH="1")
        proc = run_agent(ws, env, "opencode", [str(CLIS / "opencode"), "run", "--model", "fake/fake-model", "Read first.txt and second.txt."])
    finally:
        model.stop()
    # OpenCode names MCP tools <server>_<tool>.
    assert_conversation(model, proc, killed, "ralph_read_file")
    assert_clean(ws, env)


INSPECTOR_AGENT = r"""
import json, os, subprocess, sys, time
from pathlib import Path
inspector, ws = sys.argv[1], Path(sys.argv[2])
base = [inspector, "--cli", os.environ["RALPH_MCP_ENDPOINT"], "--transport", "http",
        "--header", "Authorization: Bearer " + os.environ["RALPH_MCP_AUTH_TOKEN"]]
def cli(*args):
    p = subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        sys.exit(f"inspector {args} failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout)
out = {"tools": [t["name"] for t in cli("--method", "tools/list")["tools"]]}
out["first"] = cli("--method", "tools/call", "--tool-name", "read_file", "--tool-arg", "path=first.txt")
(ws / "first-done").write_text("")
deadline = time.monotonic() + 30
while not (ws / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
out["second"] = cli("--method", "tools/call", "--tool-name", "read_file", "--tool-arg", "path=second.txt")
print(json.dumps(out))
"""


def test_mcp_inspector_cli(box):
    ws, _home, env = box
    proc = subprocess.Popen(
        [str(BIN), "run", "--workspace", str(ws), "--agent", "generic", "--", sys.executable, "-c", INSPECTOR_AGENT, str(CLIS / "mcp-inspector"), str(ws)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: (ws / "first-done").exists() or proc.poll() is not None, 60)
        killed: list[int] = []
        if proc.poll() is None:
            killer(ws, killed)(1)
        (ws / "go").write_text("")
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out)
    tools = result["tools"]
    assert tools.count("read_file") == 1 and not [t for t in tools if t.startswith("mcp__ralph__")], tools
    assert FIRST in json.dumps(result["first"]), result["first"]
    assert SECOND in json.dumps(result["second"]), result["second"]
    assert len(killed) == 1
    (ws / "first-done").unlink()
    (ws / "go").unlink()
    assert_clean(ws, env)
