"""Upstream MCP servers proxied as ralph_custom__<server>__<tool>, with the official Python SDK
on both sides: a stdio upstream and a Streamable HTTP upstream built on the SDK's MCPServer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from conftest import ALL_CAPS, BINARY, READ_ONLY_CAPS, start_server
from mcp_client import call, free_port, live_pids, mcp_session, text_of, wait_port

FIXTURE = Path(__file__).parent / "fixtures" / "upstream_server.py"
UPSTREAM_CAPS = [*ALL_CAPS, "upstream.tool_use"]


def write_config(ws: Path, body: str) -> None:
    (ws / ".agent").mkdir(exist_ok=True)
    (ws / ".agent" / "mcp.toml").write_text(body)


def stdio_entry(name: str = "fx", extra: str = "") -> str:
    return (f'[mcp_servers.{name}]\ncommand = "{sys.executable}"\nargs = ["{FIXTURE}", "stdio"]\n'
            f'exclude_tools = ["danger"]\ntimeout_ms = 5000\n{extra}\n')


def start_ready(ws: Path, **kw):
    """Starts the server and waits until /health says every upstream is ready."""
    import httpx2

    srv = start_server(ws, **kw)
    base = srv.url.removesuffix("/mcp")
    deadline = time.monotonic() + 30
    while httpx2.get(f"{base}/health").json()["status"] != "healthy":
        if time.monotonic() > deadline:
            srv.stop()
            raise AssertionError("upstreams never became ready")
        time.sleep(0.02)
    return srv


def with_session(srv, fn):
    async def body():
        async with mcp_session(srv.url, srv.headers()) as s:
            return await fn(s)

    return anyio.run(body)


def tool_names(srv) -> list[str]:
    return [t.name for t in with_session(srv, lambda s: s.list_tools()).tools]






@pytest.fixture
def stdio_server(workspace):
    write_config(workspace, stdio_entry())
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS, token="tok")
    yield srv
    srv.stop()


def test_stdio_tools_are_listed_after_builtins_with_their_schema(stdio_server):
    tools = with_session(stdio_server, lambda s: s.list_tools()).tools
    names = [t.name for t in tools]
    proxied = [n for n in names if n.startswith("ralph_custom__")]
    assert set(proxied) == {f"ralph_custom__fx__{t}" for t in ("echo", "whoami", "slow", "crash", "picture", "grow", "chatter", "grow_resources", "grow_prompts")}
    assert names.index(proxied[0]) > names.index("read_file")
    assert all(not n.startswith("ralph_custom__") for n in names[: names.index(proxied[0])])
    echo = next(t for t in tools if t.name == "ralph_custom__fx__echo")
    assert echo.description == "Echo the text back."
    assert echo.input_schema["properties"]["text"]["type"] == "string"
    res = call(stdio_server, "ralph_custom__fx__echo", {"text": "hi"})
    assert not res.is_error and text_of(res) == "echo: hi"
    async def excluded(s):
        try:
            await s.call_tool("ralph_custom__fx__danger", {})
        except Exception as e:  # noqa: BLE001 - the SDK raises McpError for -32602
            return str(e)
        return "called"

    assert "Unknown tool" in with_session(stdio_server, excluded)


def test_one_persistent_session_not_a_process_per_call(stdio_server):
    pids = {text_of(call(stdio_server, "ralph_custom__fx__whoami")).split()[0] for _ in range(4)}
    assert len(pids) == 1
    log = stdio_server.workspace / ".agent" / "tmp" / "mcp-upstream-fx.log"
    assert "upstream-fixture starting (stdio)" in log.read_text(), "the upstream's stderr is kept in its log"


def test_dead_upstream_fails_fast_naming_it_then_comes_back(stdio_server):
    first = text_of(call(stdio_server, "ralph_custom__fx__whoami")).split()[0]
    crashed = call(stdio_server, "ralph_custom__fx__crash")
    assert crashed.is_error
    t0 = time.monotonic()
    res = call(stdio_server, "ralph_custom__fx__echo", {"text": "x"})
    if res.is_error:
        assert "fx" in text_of(res)
        assert time.monotonic() - t0 < 2.0, "a dead upstream must fail fast"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        res = call(stdio_server, "ralph_custom__fx__whoami")
        if not res.is_error:
            break
        assert "upstream `fx`" in text_of(res)
        time.sleep(0.1)
    assert not res.is_error
    assert text_of(res).split()[0] != first


def test_progress_is_relayed_and_timeouts_cancel_upstream(workspace, tmp_path):
    mark = tmp_path / "cancelled"
    write_config(workspace, stdio_entry(extra="").replace("timeout_ms = 5000", "timeout_ms = 700"))
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS, extra_env={"UPSTREAM_CANCEL_MARK": str(mark)})
    try:
        seen = []

        async def on_progress(progress, total, message):
            seen.append(message)

        async def flow(s):
            ok = await s.call_tool("ralph_custom__fx__slow", {"steps": 2}, progress_callback=on_progress)
            late = await s.call_tool("ralph_custom__fx__slow", {"steps": 20})
            return ok, late

        ok, late = with_session(srv, flow)
        assert not ok.is_error and text_of(ok) == "done after 2 steps"
        assert "step 1 of 2" in seen and "step 2 of 2" in seen
        assert late.is_error and "did not answer" in text_of(late) and "700 ms" in text_of(late)
        deadline = time.monotonic() + 5
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the upstream never saw the cancellation"
    finally:
        srv.stop()


def test_images_follow_the_media_profile(workspace):
    write_config(workspace, stdio_entry())
    claude = start_ready(workspace, capabilities=UPSTREAM_CAPS,
                          extra_session={"model_identity": {"provider": "claude", "transport": "claude"}})
    try:
        res = call(claude, "ralph_custom__fx__picture")
        assert [b.type for b in res.content] == ["image"]
    finally:
        claude.stop()
    codex = start_ready(workspace, capabilities=UPSTREAM_CAPS,
                         extra_session={"model_identity": {"provider": "openai", "transport": "codex"}})
    try:
        async def flow(s):
            res = await s.call_tool("ralph_custom__fx__picture", {})
            link = res.content[0]
            assert link.type == "resource_link"
            return await s.read_resource(str(link.uri))

        got = with_session(codex, flow)
        assert got.contents[0].mime_type == "image/png"
    finally:
        codex.stop()


def test_list_changed_refreshes_tools(stdio_server):
    assert "ralph_custom__fx__added" not in tool_names(stdio_server)
    assert text_of(call(stdio_server, "ralph_custom__fx__grow")) == "grown"
    deadline = time.monotonic() + 10
    while "ralph_custom__fx__added" not in tool_names(stdio_server):
        assert time.monotonic() < deadline, "tools/list never showed the added tool"
        time.sleep(0.1)
    assert text_of(call(stdio_server, "ralph_custom__fx__added")) == "added tool works"


def test_sessions_without_upstream_tool_use_neither_see_nor_call(workspace):
    write_config(workspace, stdio_entry())
    srv = start_ready(workspace, capabilities=READ_ONLY_CAPS, drain="review")
    try:
        assert not [n for n in tool_names(srv) if n.startswith("ralph_custom__")]
        res = call(srv, "ralph_custom__fx__echo", {"text": "x"})
        assert res.is_error and "upstream.tool_use" in text_of(res)
    finally:
        srv.stop()




def test_http_upstream_with_header_from_env(workspace):
    port = free_port()
    up = subprocess.Popen([sys.executable, str(FIXTURE), "http", str(port)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        write_config(workspace, f'[mcp_servers.web]\ntransport = "http"\nurl = "http://127.0.0.1:{port}/mcp"\n'
                                'headers = { Authorization = { env = "WEB_UPSTREAM_TOKEN", prefix = "Bearer " } }\n')
        srv = start_ready(workspace, capabilities=UPSTREAM_CAPS, extra_env={"WEB_UPSTREAM_TOKEN": "s3cret"})
        try:
            res = call(srv, "ralph_custom__web__echo", {"text": "over http"})
            assert not res.is_error and text_of(res) == "echo: over http"
            who = text_of(call(srv, "ralph_custom__web__whoami"))
            assert f"pid={up.pid}" in who
        finally:
            srv.stop()
    finally:
        up.terminate()
        up.wait(10)


@pytest.mark.parametrize("body,needle", [
    ('[mcp_servers.fx]\ncommand = "x"\ncomand = "y"\n', "comand"),
    ('[mcp_servers.ralph]\ncommand = "x"\n', "reserved"),
    ('[mcp_servers.a__b]\ncommand = "x"\n', "__"),
    ('[mcp_servers.Bad]\ncommand = "x"\n', "^[a-z][a-z0-9_-]*$"),
    ('[mcp_servers.fx]\ntransport = "carrier-pigeon"\ncommand = "x"\n', "mcp_servers.fx.transport"),
])
def test_bad_upstream_config_stops_serve_naming_file_and_key(workspace, body, needle):
    write_config(workspace, body)
    proc = subprocess.run([str(BINARY), "serve", "--port", "0", "--workspace", str(workspace)],
                          capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "mcp.toml" in proc.stderr and needle in proc.stderr, proc.stderr


def test_env_config_merges_and_the_file_wins(workspace):
    write_config(workspace, stdio_entry())
    env_list = json.dumps([
        {"name": "fx", "transport": "stdio", "command": "/nonexistent/should-not-run", "args": [], "env": {},
         "url": None, "origin": "agent_upstream"},
        {"name": "two", "transport": "stdio", "command": sys.executable, "args": [str(FIXTURE), "stdio"],
         "env": {}, "url": None, "origin": "agent_upstream"},
    ])
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS, extra_env={"RALPH_UPSTREAM_MCP_CONFIG": env_list})
    try:
        names = tool_names(srv)
        # The file's `fx` wins; Ralph's agent upstream `two` is named as Ralph names it.
        assert "ralph_custom__fx__echo" in names and "ralph_upstream__two__echo" in names
        assert any("defined in both" in line for line in srv.stderr_lines), srv.stderr_lines
    finally:
        srv.stop()


def test_stdio_upstreams_die_with_the_server(workspace):
    marker = f"{FIXTURE} stdio"
    write_config(workspace, stdio_entry())
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS)
    try:
        assert call(srv, "ralph_custom__fx__echo", {"text": "x"}).content
        mine = {p for p in live_pids(marker)
                if Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(srv.proc.pid)}
        assert mine, "the stdio upstream should be a child of the server"
    finally:
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
    deadline = time.monotonic() + 5
    while mine & set(live_pids(marker)):
        assert time.monotonic() < deadline, "an upstream child outlived its server"
        time.sleep(0.05)


def test_client_cancellation_reaches_the_upstream(workspace, tmp_path):
    mark = tmp_path / "cancelled-by-client"
    # A long upstream timeout, so only the client's cancellation can stop the call in time.
    write_config(workspace, stdio_entry().replace("timeout_ms = 5000", "timeout_ms = 60000"))
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS, extra_env={"UPSTREAM_CANCEL_MARK": str(mark)})
    try:
        async def flow(s):
            with anyio.move_on_after(0.6):
                await s.call_tool("ralph_custom__fx__slow", {"steps": 50})
            # The session still works after a cancelled call.
            return await s.call_tool("ralph_custom__fx__echo", {"text": "after"})

        res = with_session(srv, flow)
        assert text_of(res) == "echo: after"
        deadline = time.monotonic() + 5
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the upstream call kept running after the client cancelled it"
    finally:
        srv.stop()


def slow_stdio_entry(delay_s: float) -> str:
    return (f'[mcp_servers.fx]\ncommand = "sh"\n'
            f'args = ["-c", "sleep {delay_s}; exec {sys.executable} {FIXTURE} stdio"]\n')


def test_serve_is_ready_before_upstreams_and_health_says_degraded(workspace):
    import httpx2

    write_config(workspace, slow_stdio_entry(1.5))
    srv = start_server(workspace, capabilities=UPSTREAM_CAPS)
    try:
        base = srv.url.removesuffix("/mcp")
        health = httpx2.get(f"{base}/health").json()
        assert health["status"] == "degraded" and health["degraded_upstreams"] == ["fx"]
        assert not call(srv, "list_allowed_roots").is_error, "built-in tools must not wait for upstreams"
        deadline = time.monotonic() + 20
        while httpx2.get(f"{base}/health").json()["status"] != "healthy":
            assert time.monotonic() < deadline, "the upstream never became ready"
            time.sleep(0.05)
        assert text_of(call(srv, "ralph_custom__fx__echo", {"text": "late"})) == "echo: late"
    finally:
        srv.stop()


def test_run_preflight_can_require_an_upstream_tool(workspace):
    write_config(workspace, slow_stdio_entry(1.0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALPH_MCP_")}
    proc = subprocess.run(
        [str(BINARY), "run", "--workspace", str(workspace), "--capability", "upstream.tool_use",
         "--require", "read_file", "--require", "ralph_custom__fx__echo", "--",
         str(BINARY), "call", "-", "ralph_custom__fx__echo", '{"text": "from the agent"}'],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "echo: from the agent" in proc.stdout


def test_a_missing_upstream_command_fails_at_once_by_name(workspace):
    import httpx2

    write_config(workspace, '[mcp_servers.ghost]\ncommand = "no-such-mcp-server-xyz"\n')
    srv = start_server(workspace, capabilities=UPSTREAM_CAPS)
    try:
        base = srv.url.removesuffix("/mcp")
        health = httpx2.get(f"{base}/health").json()
        states = {u["name"]: u["state"] for u in health["upstreams"]}
        assert "failed" in states["ghost"] and "no-such-mcp-server-xyz" in states["ghost"], states
    finally:
        srv.stop()


def run_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("RALPH_MCP_", "MCP_AUTH"))}


def test_run_starts_the_agent_once_upstreams_are_ready(workspace):
    write_config(workspace, slow_stdio_entry(1.5))
    script = f'{BINARY} call "$RALPH_MCP_ENDPOINT" ralph_custom__fx__echo \'{{"text":"first"}}\''
    p = subprocess.run([str(BINARY), "run", "--workspace", str(workspace), "--", "sh", "-c", script],
                       env=run_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "echo: first" in p.stdout, "the agent's first call found the upstream tool"


def test_run_names_each_upstream_that_is_not_there_and_goes_on(workspace):
    write_config(workspace, '[mcp_servers.ghost]\ncommand = "no-such-mcp-server-xyz"\n')
    started = time.monotonic()
    p = subprocess.run([str(BINARY), "run", "--workspace", str(workspace), "--", "true"],
                       env=run_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stderr.splitlines() if "upstream `ghost`" in line]
    assert len(lines) == 1 and "no-such-mcp-server-xyz" in lines[0], p.stderr
    assert time.monotonic() - started < 10, "a missing command must not cost the preflight timeout"


def test_an_upstreams_stderr_log_is_capped(stdio_server):
    res = call(stdio_server, "ralph_custom__fx__chatter", {"megabytes": 20})
    assert not res.is_error, text_of(res)
    tmp = stdio_server.workspace / ".agent" / "tmp"
    cap = 8 * 1024 * 1024
    deadline = time.monotonic() + 10
    rotated = tmp / "mcp-upstream-fx.log.1"
    while not rotated.exists() or rotated.stat().st_size < cap:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    logs = sorted(tmp.glob("mcp-upstream-fx.log*"))
    assert [p.name for p in logs] == ["mcp-upstream-fx.log", "mcp-upstream-fx.log.1"]
    assert all(p.stat().st_size <= cap + 16 * 1024 for p in logs), [p.stat().st_size for p in logs]
    # The upstream was never blocked by its stderr and still answers.
    assert text_of(call(stdio_server, "ralph_custom__fx__echo", {"text": "still here"})) == "echo: still here"
