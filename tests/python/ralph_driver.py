"""Ralph Workflow's own lifecycle code driving ralph-mcp. Run with the interpreter of the
ralph-workflow venv (tests/.venv-ralph, Python 3.12, ralph-workflow==0.9.30).

Only Ralph's `spawn_process` dependency is replaced, so that it starts
`ralph-mcp serve` (with the arguments and environment Ralph builds) instead of
`python -m ralph.mcp.server`. Everything else is Ralph's code, unmodified: `start_mcp_server`, the preflight, the probe,
the health check and restart, make-before-break replacement, `reset_tool_registry`,
the tool-hash baseline, the completion sentinel check and the transcript parsers.

Usage: ralph_driver.py SCENARIO WORKSPACE [ARGS...]; prints one JSON object on stdout.
`RALPH_MCP_BIN` names the binary. Ralph's logging goes to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

BIN = os.environ["RALPH_MCP_BIN"]

def deps():
    from ralph.mcp.server import lifecycle as lc

    base = lc._default_lifecycle_deps()
    ralph_spawn = base.spawn_process

    def spawn_process(command, cwd, env, *, phase=None, pass_fds=()):
        # Ralph's command is [python, -m, ralph.mcp.server, --host, H, --port, P, --workspace, W].
        assert command[1:3] == ["-m", "ralph.mcp.server"], command
        return ralph_spawn([BIN, "serve", *command[3:]], cwd, env, phase=phase, pass_fds=pass_fds)

    return dataclasses.replace(base, spawn_process=spawn_process)


def session_for(drain: str, run_id: str = "ralph-run-1", broker_secret: str | None = None):
    from ralph.mcp.protocol.capability_mapping import coerce_session_drain
    from ralph.mcp.protocol.session import AgentSession
    from ralph.mcp.session_plan import default_prompt_capability_identifiers

    caps = set(default_prompt_capability_identifiers(coerce_session_drain(drain)))
    return AgentSession(session_id=f"sess-{drain}", run_id=run_id, drain=drain, capabilities=caps, broker_secret=broker_secret)


def start(workspace: str, drain: str, **kw):
    from ralph.mcp.server import lifecycle as lc
    from ralph.workspace import FsWorkspace

    return lc.start_mcp_server(session_for(drain, **kw), FsWorkspace(Path(workspace)), deps=deps())


def mcp_call(endpoint: str, name: str, arguments: dict) -> dict:
    """One tools/call the way an agent sends it, after an initialize."""
    import urllib.request

    def post(body, sid=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if sid:
            headers["Mcp-Session-Id"] = sid
        req = urllib.request.Request(endpoint, json.dumps(body).encode(), headers, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read().decode()
            return r.headers.get("mcp-session-id"), (json.loads(raw) if raw else {})

    sid, _ = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    _, res = post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}}, sid)
    return res["result"]


def wait_new_pid(bridge, old: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bridge.check_health_and_restart_if_needed()
        pid = bridge.process.pid
        if pid != old:
            return pid
        time.sleep(0.05)
    raise SystemExit(f"no replacement for {old} within {timeout}s")


def scenario_drains(workspace: str) -> dict:
    """start_mcp_server for four drains, the probe and the tool-hash baseline each time."""
    from ralph.mcp.protocol._startup_http import probe_mcp_http_endpoint

    out = {}
    for drain in ("development", "review", "commit", "analysis"):
        bridge = start(workspace, drain)
        try:
            probe_mcp_http_endpoint(bridge.endpoint_uri(), timedelta(seconds=5))
            out[drain] = {"pid": bridge.process.pid, "baseline": bridge._expected_tool_hash is not None}
        finally:
            bridge.shutdown()
    return out


def replaced(workspace: str, disturb) -> dict:
    """Starts a server, lets `disturb(bridge, pid)` make Ralph replace it, then reads a file
    through the replacement on the same endpoint."""
    bridge = start(workspace, "development")
    try:
        first = bridge.process.pid
        t0 = time.monotonic()
        second = disturb(bridge, first)
        took = time.monotonic() - t0
        text = mcp_call(bridge.endpoint_uri(), "read_file", {"path": "hello.txt"})["content"][0]["text"]
        return {"first": first, "second": second, "seconds": took, "read": text}
    finally:
        bridge.shutdown()


def scenario_kill9(workspace: str) -> dict:
    def disturb(bridge, pid):
        os.kill(pid, signal.SIGKILL)
        return wait_new_pid(bridge, pid)

    return replaced(workspace, disturb)


def scenario_sigstop(workspace: str) -> dict:
    def disturb(bridge, pid):
        os.kill(pid, signal.SIGSTOP)
        return wait_new_pid(bridge, pid, timeout=60)

    return replaced(workspace, disturb)


def scenario_reset(workspace: str) -> dict:
    def disturb(bridge, _pid):
        bridge.reset_tool_registry()
        return bridge.process.pid

    return replaced(workspace, disturb)


def scenario_orphan(workspace: str) -> dict:
    """Respawn from a non-main thread, report the pid, then wait to be SIGKILLed."""
    bridge = start(workspace, "development")
    first = bridge.process.pid
    os.kill(first, signal.SIGKILL)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("pid", wait_new_pid(bridge, first)))
    t.start()
    t.join()
    print(json.dumps({"first": first, "second": result["pid"]}), flush=True)
    time.sleep(600)
    return {}


def scenario_completion(workspace: str, secret: str) -> dict:
    from ralph.agents import completion_signals as cs
    from ralph.agents.execution_state import _helpers as progress
    from ralph.agents.invoke import _session as transcript

    run_id = "ralph-run-complete"
    # A reused run id whose earlier completion Ralph could only tombstone in .agent/state.db:
    # the database is read before the sentinel file, so the completion must land there.
    # (Written with an explicit created_at: the SQLite of this Python may predate
    # unixepoch('subsec'), which Ralph's schema uses as the default.)
    from ralph.mcp.artifacts.state_db import CLEARED_SENTINEL_HMAC, RunStateDB

    db = RunStateDB(Path(workspace))
    db.close()
    with sqlite3.connect(Path(workspace) / ".agent" / "state.db") as conn:
        conn.execute("INSERT INTO completion_sentinels (run_id, hmac, created_at) VALUES (?, ?, 0)", (run_id, CLEARED_SENTINEL_HMAC))
    # Ralph, the broker, holds the secret in its environment and lets only the server inherit it.
    os.environ["RALPH_BROKER_SECRET"] = secret
    bridge = start(workspace, "development", run_id=run_id, broker_secret=secret)
    try:
        done = mcp_call(bridge.endpoint_uri(), "declare_complete", {"summary": "it's done\nreally"})
        prog = mcp_call(bridge.endpoint_uri(), "report_progress", {"status": "halfway", "note": "tests 'pass'"})
    finally:
        bridge.shutdown()
    text = done["content"][0]["text"]
    first_line = text.splitlines()[0]
    # A transcript carries the tool result JSON-encoded on one NDJSON line.
    ndjson = json.dumps({"type": "tool_result", "content": text})
    signal_ = progress._progress_report_signal(json.dumps({"content": prog["content"][0]["text"]}))
    session_ids = [m.group(1) for p in transcript._COMPLETION_SESSION_ID_PATTERNS if (m := p.search(first_line))]
    return {
        "text": text,
        "sentinel": cs._check_completion_sentinel(Path(workspace), run_id, sentinel_secret=secret),
        "db_row": cs._db_sentinel_lookup(Path(workspace), run_id)[0],
        "sentinel_wrong_secret": cs._check_completion_sentinel(Path(workspace), run_id, sentinel_secret="other"),
        "explicit": cs.extract_explicit_completion([ndjson]),
        "whole_line": transcript._is_whole_completion_line(first_line),
        "session_ids": session_ids,
        "progress": signal_.raw if signal_ else None,
    }


def scenario_wrapup(workspace: str) -> dict:
    from ralph.mcp.server._session_wrapup import development_wrapup_notice

    now = time.time()
    os.environ["RALPH_DEV_WARN_EPOCH"] = str(now - 5)
    os.environ["RALPH_DEV_DEADLINE_EPOCH"] = str(now + 30 * 60 + 30)
    bridge = start(workspace, "development")
    try:
        res = mcp_call(bridge.endpoint_uri(), "read_file", {"path": "hello.txt"})
    finally:
        bridge.shutdown()
    return {"blocks": [c.get("text") for c in res["content"]], "ralphs": development_wrapup_notice()}


def scenario_agent_upstream(workspace: str, python: str, fixture: str) -> dict:
    """An agent-native upstream, as Ralph hands over Claude's own MCP servers."""
    os.environ["RALPH_UPSTREAM_MCP_CONFIG"] = json.dumps(
        # Ralph's PYTHONPATH (its own site-packages) must not reach the fixture's interpreter.
        [{"name": "fx", "transport": "stdio", "url": None, "command": python, "args": [fixture, "stdio"], "env": {"PYTHONPATH": ""}, "origin": "agent_upstream"}]
    )
    from ralph.mcp.server import lifecycle as lc
    from ralph.workspace import FsWorkspace

    session = session_for("development")
    session.capabilities.add("upstream.tool_use")
    bridge = lc.start_mcp_server(session, FsWorkspace(Path(workspace)), deps=deps())
    try:
        deadline = time.monotonic() + 30
        names: list[str] = []
        while time.monotonic() < deadline:
            from ralph.mcp.server._handover_protocol import served_tool_entries

            names = [t["name"] for t in served_tool_entries(bridge.endpoint_uri(), 5)]
            if "ralph_upstream__fx__echo" in names:
                break
            time.sleep(0.1)
        res = mcp_call(bridge.endpoint_uri(), "ralph_upstream__fx__echo", {"text": "via ralph"})
    finally:
        bridge.shutdown()
    return {"names": [n for n in names if "fx__" in n], "echo": res}


def scenario_catalog(workspace: str, python: str, fixture: str) -> dict:
    """A respawned server lists the upstream tools from Ralph's catalog before it reaches the upstream."""
    slow = Path(workspace) / "SLOW"
    # The upstream starts at once the first time; after `slow` exists it takes 4 s.
    script = f"test -f {slow} && sleep 4; exec {python} {fixture} stdio"
    os.environ["RALPH_UPSTREAM_MCP_CONFIG"] = json.dumps(
        [{"name": "fx", "transport": "stdio", "url": None, "command": "sh", "args": ["-c", script], "env": {"PYTHONPATH": ""}, "origin": "agent_upstream"}]
    )
    from ralph.mcp.server import lifecycle as lc
    from ralph.mcp.server._handover_protocol import served_tool_entries
    from ralph.workspace import FsWorkspace

    session = session_for("development")
    session.capabilities.add("upstream.tool_use")
    bridge = lc.start_mcp_server(session, FsWorkspace(Path(workspace)), deps=deps())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "ralph_upstream__fx__echo" in [t["name"] for t in served_tool_entries(bridge.endpoint_uri(), 5)]:
                break
            time.sleep(0.05)
        catalog_file = Path(workspace) / ".agent" / "mcp" / "parent_catalog.json"
        deadline = time.monotonic() + 5
        while not catalog_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        published = json.loads(catalog_file.read_text())
        slow.write_text("")
        first = bridge.process.pid
        os.kill(first, signal.SIGKILL)
        wait_new_pid(bridge, first)
        listed = [t["name"] for t in served_tool_entries(bridge.endpoint_uri(), 5)]
        # What the new server says of the upstream at that moment (it is still sleeping).
        import urllib.request

        health_url = bridge.endpoint_uri().rsplit("/", 1)[0] + "/health"
        with urllib.request.urlopen(health_url, timeout=5) as r:
            state_when_listed = {u["name"]: u["state"] for u in json.loads(r.read())["upstreams"]}["fx"]
        res = mcp_call(bridge.endpoint_uri(), "ralph_upstream__fx__echo", {"text": "from the catalog"})
    finally:
        bridge.shutdown()
    return {
        "published": published,
        "listed_at_once": "ralph_upstream__fx__echo" in listed,
        "state_when_listed": state_when_listed,
        "echo": res,
    }


def scenario_relay(workspace: str) -> dict:
    """Ralph's activity relay hears of every tool call, in order, before it runs."""
    from ralph.mcp.server import lifecycle as lc
    from ralph.mcp.server._activity_relay import ActivityRelay
    from ralph.mcp.server._mcp_server_extras import McpServerExtras
    from ralph.workspace import FsWorkspace

    relay = ActivityRelay()
    heard: list[str] = []
    remove = relay.register_sink(heard.append)
    extras = McpServerExtras(activity_relay=relay)
    bridge = lc.start_mcp_server(session_for("development"), FsWorkspace(Path(workspace)), deps=deps(), extras=extras)
    try:
        mcp_call(bridge.endpoint_uri(), "read_file", {"path": "hello.txt"})
        mcp_call(bridge.endpoint_uri(), "stat_path", {"path": "hello.txt"})
        environ = Path(f"/proc/{bridge.process.pid}/environ").read_bytes()
    finally:
        bridge.shutdown()
        remove()
    snapshot = relay.snapshot()
    relay.close()
    return {
        "heard": heard,
        "health": relay.health_error(),
        "credential_in_environ": b"RALPH_MCP_ACTIVITY_RELAY_CREDENTIAL=" in environ and relay.server_environment()["RALPH_MCP_ACTIVITY_RELAY_CREDENTIAL"].encode() in environ,
        "snapshot": str(snapshot),
    }


def scenario_swap(workspace: str) -> dict:
    """Ralph's lifecycle with nothing replaced at all: the `ralph-mcp ralph-swap` files
    in this interpreter's site-packages turn Ralph's own `python -m ralph.mcp.server`
    into `ralph-mcp serve`."""
    from ralph.mcp.protocol._startup_http import probe_mcp_http_endpoint
    from ralph.mcp.server import lifecycle as lc
    from ralph.workspace import FsWorkspace

    bridge = lc.start_mcp_server(session_for("development"), FsWorkspace(Path(workspace)))
    try:
        first = bridge.process.pid
        probe_mcp_http_endpoint(bridge.endpoint_uri(), timedelta(seconds=5))
        exe = os.readlink(f"/proc/{first}/exe")
        read = mcp_call(bridge.endpoint_uri(), "read_file", {"path": "hello.txt"})["content"][0]["text"]
        graph = json.loads(mcp_call(bridge.endpoint_uri(), "ralph_graph", {"query_type": "neighbors", "target": "helper", "direction": "in"})["content"][0]["text"])
        os.kill(first, signal.SIGKILL)
        second = wait_new_pid(bridge, first)
        exe_after = os.readlink(f"/proc/{second}/exe")
        read_after = mcp_call(bridge.endpoint_uri(), "read_file", {"path": "hello.txt"})["content"][0]["text"]
    finally:
        bridge.shutdown()
    return {
        "exe": exe,
        "exe_after_restart": exe_after,
        "read": read,
        "read_after_restart": read_after,
        "callers": [n["id"] for n in graph["nodes"]],
        "baseline": bridge._expected_tool_hash is not None,
    }


def main() -> None:
    scenario, workspace, *rest = sys.argv[1:]
    out = globals()[f"scenario_{scenario}"](workspace, *rest)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
