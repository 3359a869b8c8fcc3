"""Upstream resources and prompts proxied under the upstream's namespace, their
list changes relayed; and `.agent/mcp.toml` edited while clients are connected:
upstreams added, removed and restarted without restarting the server, clients
told, and an invalid edit keeping the last good configuration."""

from __future__ import annotations

import sys
import threading
import time

import httpx2

from conftest import READ_ONLY_CAPS
from mcp_client import call, live_pids, text_of
from test_upstream import FIXTURE, UPSTREAM_CAPS, start_ready, stdio_entry, tool_names, with_session, write_config


class Notifications:
    """Collects the notification methods of a GET /mcp event stream."""

    def __init__(self, srv):
        self.methods: list[str] = []
        self.messages: list[dict] = []
        self._stop = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(srv,), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the GET stream did not open"

    def _run(self, srv):
        import json

        headers = {**srv.headers(), "Accept": "text/event-stream"}
        with httpx2.stream("GET", srv.url, headers=headers, timeout=None) as r:
            assert r.status_code == 200, r.status_code
            self._ready.set()
            for line in r.iter_lines():
                if self._stop:
                    return
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    self.messages.append(msg)
                    self.methods.append(msg["method"])

    def wait_for(self, method: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while method not in self.methods:
            assert time.monotonic() < deadline, f"no {method}; got {self.methods}"
            time.sleep(0.05)

    def close(self):
        self._stop = True


def health(srv) -> dict:
    return httpx2.get(srv.url.removesuffix("/mcp") + "/health").json()


def wait(cond, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_upstream_resources_and_prompts_are_proxied_with_their_changes(workspace):
    write_config(workspace, stdio_entry())
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS)
    notes = Notifications(srv)
    try:
        async def flow(s):
            res = await s.list_resources()
            prompts = await s.list_prompts()
            read = await s.read_resource("fixture://notes")
            got = await s.get_prompt("ralph_custom__fx__greet", {"name": "Ada"})
            return res, prompts, read, got

        res, prompts, read, got = with_session(srv, flow)
        (notes_res,) = [r for r in res.resources if str(r.uri) == "fixture://notes"]
        assert notes_res.name == "ralph_custom__fx__notes" and notes_res.description == "The fixture's notes"
        assert read.contents[0].text == "notes from the upstream fixture"
        assert [p.name for p in prompts.prompts] == ["ralph_custom__fx__greet"]
        assert "Please greet Ada warmly." in got.messages[0].content.text

        assert text_of(call(srv, "ralph_custom__fx__grow_resources")) == "resources grown"
        notes.wait_for("notifications/resources/list_changed")
        uris = {str(r.uri) for r in with_session(srv, lambda s: s.list_resources()).resources}
        assert "fixture://more" in uris
        assert text_of(call(srv, "ralph_custom__fx__grow_prompts")) == "prompts grown"
        notes.wait_for("notifications/prompts/list_changed")
        names = [p.name for p in with_session(srv, lambda s: s.list_prompts()).prompts]
        assert "ralph_custom__fx__farewell" in names
    finally:
        notes.close()
        srv.stop()


def test_a_session_without_upstream_tool_use_sees_no_upstream_resources_or_prompts(workspace):
    write_config(workspace, stdio_entry())
    srv = start_ready(workspace, capabilities=READ_ONLY_CAPS, drain="review")
    try:
        async def flow(s):
            return await s.list_resources(), await s.list_prompts()

        res, prompts = with_session(srv, flow)
        assert not [r for r in res.resources if str(r.uri).startswith("fixture://")]
        assert prompts.prompts == []
        r = httpx2.post(srv.url, json={"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "fixture://notes"}},
                        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"})
        assert r.json()["error"]["code"] == -32002
    finally:
        srv.stop()


def fixture_pids(ws) -> list[int]:
    return live_pids(f"{FIXTURE} stdio")


def test_editing_mcp_toml_adds_removes_and_restarts_upstreams_live(workspace):
    write_config(workspace, stdio_entry("fx"))
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS)
    notes = Notifications(srv)
    try:
        first_pid = text_of(call(srv, "ralph_custom__fx__whoami")).split()[0]
        # Add a second upstream.
        write_config(workspace, stdio_entry("fx") + stdio_entry("fy"))
        wait(lambda: "ralph_custom__fy__echo" in tool_names(srv), "fy never listed")
        notes.wait_for("notifications/tools/list_changed")
        assert text_of(call(srv, "ralph_custom__fy__echo", {"text": "new"})) == "echo: new"
        # fx is untouched.
        assert text_of(call(srv, "ralph_custom__fx__whoami")).split()[0] == first_pid
        assert len(fixture_pids(workspace)) == 2

        # Change fx: it restarts (a new process), fy keeps running.
        fy_pid = text_of(call(srv, "ralph_custom__fy__whoami")).split()[0]
        write_config(workspace, stdio_entry("fx", "startup_timeout_ms = 20000") + stdio_entry("fy"))
        wait(lambda: health(srv)["status"] == "healthy" and "ralph_custom__fx__echo" in tool_names(srv)
             and text_of(call(srv, "ralph_custom__fx__whoami")).split()[0] != first_pid, "fx never restarted")
        assert text_of(call(srv, "ralph_custom__fy__whoami")).split()[0] == fy_pid

        # Remove fx: its tools go, and so does its process.
        write_config(workspace, stdio_entry("fy"))
        wait(lambda: not [t for t in tool_names(srv) if t.startswith("ralph_custom__fx__")], "fx still listed")
        wait(lambda: len(fixture_pids(workspace)) == 1, f"fx's process survived: {fixture_pids(workspace)}")
        assert [u["name"] for u in health(srv)["upstreams"]] == ["fy"]

        # An invalid edit changes nothing and says why, in /health and the log.
        write_config(workspace, stdio_entry("fy") + '[mcp_servers.bad]\ncomand = "x"\n')
        wait(lambda: health(srv)["config_error"] is not None, "no config_error")
        h = health(srv)
        assert "comand" in h["config_error"] and "last good configuration" in h["config_error"]
        assert h["status"] == "degraded"
        assert text_of(call(srv, "ralph_custom__fy__echo", {"text": "still"})) == "echo: still"
        # A good edit clears it.
        write_config(workspace, stdio_entry("fy"))
        wait(lambda: health(srv)["config_error"] is None and health(srv)["status"] == "healthy", "error not cleared")
    finally:
        notes.close()
        srv.stop()
    log = "".join(srv.stderr_lines) + (srv.proc.stderr.read() if srv.proc.stderr else "")
    assert "comand" in log, log[-2000:]
    assert not fixture_pids(workspace)


def test_a_2026_07_28_listener_hears_exactly_the_lists_it_asked_for(workspace):
    import json

    from test_modern_protocol import META, modern_headers

    write_config(workspace, stdio_entry())
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS)
    frames: list[dict] = []
    opened = threading.Event()

    def listen():
        body = {"jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen",
                "params": {"_meta": META, "notifications": {"toolsListChanged": True, "resourcesListChanged": True}}}
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **modern_headers("subscriptions/listen")}
        with httpx2.stream("POST", srv.url, json=body, headers=h, timeout=None) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    frames.append(json.loads(line[5:]))
                    opened.set()

    threading.Thread(target=listen, daemon=True).start()
    try:
        assert opened.wait(10)
        assert frames[0]["params"]["notifications"] == {"toolsListChanged": True, "resourcesListChanged": True}
        for tool in ("grow", "grow_prompts", "grow_resources"):
            assert not call(srv, f"ralph_custom__fx__{tool}").is_error
        methods = lambda: [f.get("method") for f in frames[1:]]
        wait(lambda: {"notifications/tools/list_changed", "notifications/resources/list_changed"} <= set(methods()), f"got {methods()}")
        assert "notifications/prompts/list_changed" not in methods()
        assert all(f["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 7 for f in frames[1:])
    finally:
        srv.stop()


def test_upstream_state_changes_reach_clients_as_log_messages(workspace):
    write_config(workspace, stdio_entry())
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS)
    notes = Notifications(srv)
    try:
        call(srv, "ralph_custom__fx__crash")
        logs = lambda: [m["params"] for m in notes.messages if m["method"] == "notifications/message"]
        wait(lambda: any(p["level"] == "warning" and "`fx` is down" in p["data"] for p in logs()), f"no down message: {logs()}")
        wait(lambda: any(p["level"] == "info" and "`fx` is ready" in p["data"] for p in logs()), f"no ready message: {logs()}")
        assert all(p["logger"] == "ralph-mcp/upstream" for p in logs())
        # Above the level the client set, nothing more.
        r = httpx2.post(srv.url, json={"jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": {"level": "error"}},
                        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"})
        assert r.json()["result"] == {}
        seen = len(logs())
        call(srv, "ralph_custom__fx__crash")
        wait(lambda: health(srv)["status"] == "healthy", "fx never came back")
        time.sleep(0.3)
        assert len(logs()) == seen, logs()[seen:]
    finally:
        notes.close()
        srv.stop()
