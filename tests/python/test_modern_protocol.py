"""MCP 2026-07-28 with the official Python SDK pinned to it (no initialize, no session),
and the same requests by hand where the wire shape matters."""

from __future__ import annotations

import json
import time

import anyio
import httpx2
import pytest
from mcp import Client

from conftest import ALL_CAPS, start_server
from mcp_client import live_pids, text_of

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def post(srv, body: dict, headers: dict | None = None) -> httpx2.Response:
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **srv.headers()}
    h.update(headers or {})
    return httpx2.post(srv.url, json=body, headers=h, timeout=30)


def modern_headers(method: str, name: str | None = None) -> dict:
    h = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        h["Mcp-Name"] = name
    return h


@pytest.fixture
def open_server(workspace):
    # The SDK's URL client cannot add a bearer header; this server runs without one.
    srv = start_server(workspace, capabilities=ALL_CAPS)
    yield srv
    srv.stop()


def test_the_sdk_pinned_to_2026_07_28_lists_calls_and_reads(open_server):
    async def body():
        async with Client(open_server.url, mode=MODERN) as c:
            assert c.protocol_version == MODERN
            tools = await c.list_tools()
            names = [t.name for t in tools.tools]
            assert "read_file" in names and len(names) == len(set(names))
            res = await c.call_tool("read_file", {"path": "README.md"})
            assert not res.is_error and "line three" in text_of(res)
            res = await c.call_tool("read_file", {"path": "../outside/secret.txt"})
            assert res.is_error and "TOP-SECRET" not in text_of(res)
            resources = await c.list_resources()
            assert resources.resources == []
            # An image for a model of unknown provider comes back as a replay handle,
            # which resources/read returns byte for byte.
            from test_media import png_bytes

            (open_server.workspace / "pic.png").write_bytes(png_bytes())
            res = await c.call_tool("read_media", {"path": "pic.png"})
            assert not res.is_error
            uri = next(str(b.uri) for b in res.content if getattr(b, "type", "") == "resource_link")
            read = await c.read_resource(uri)
            import base64

            assert base64.b64decode(read.contents[0].blob) == png_bytes()
            listed = await c.list_resources()
            assert [str(r.uri) for r in listed.resources] == [uri]
            templates = await c.list_resource_templates()
            assert templates.resource_templates[0].uri_template == "ralph://media/{id}"

    anyio.run(body)


def test_the_sdk_in_auto_mode_discovers_the_modern_era(open_server):
    async def body():
        async with Client(open_server.url) as c:
            assert c.protocol_version == MODERN
            assert c.server_info is not None and c.server_info.name == "ralph-mcp"
            assert c.server_capabilities.tools is not None
            res = await c.call_tool("stat_path", {"path": "README.md"})
            assert not res.is_error

    anyio.run(body)


def test_results_carry_result_type_server_info_and_cache_hints(server):
    r = post(server, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}, modern_headers("tools/list"))
    assert r.status_code == 200, r.text
    assert "mcp-session-id" not in r.headers
    res = r.json()["result"]
    assert res["resultType"] == "complete"
    assert res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "ralph-mcp"
    assert res["ttlMs"] >= 0 and res["cacheScope"] in ("public", "private")
    r = post(server, {"jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": {"_meta": META}}, modern_headers("server/discover"))
    d = r.json()["result"]
    assert MODERN in d["supportedVersions"] and "2025-11-25" in d["supportedVersions"]
    assert "tools" in d["capabilities"]


def test_modern_refusals_have_their_codes_and_statuses(server):
    # A header that contradicts the body.
    r = post(
        server,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": "README.md"}, "_meta": META}},
        modern_headers("tools/call", "write_file"),
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    # A version this server does not speak lists the ones it does.
    meta = dict(META, **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})
    r = post(server, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}, {"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == -32022 and MODERN in err["data"]["supported"]
    # Methods this era removed are 404 / -32601.
    for method in ("initialize", "ping", "logging/setLevel"):
        r = post(server, {"jsonrpc": "2.0", "id": 3, "method": method, "params": {"_meta": META}}, modern_headers(method))
        assert r.status_code == 404 and r.json()["error"]["code"] == -32601, (method, r.text)
    # _meta without the client's capabilities is malformed.
    bad = {"io.modelcontextprotocol/protocolVersion": MODERN}
    r = post(server, {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": bad}}, modern_headers("tools/list"))
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602


def test_both_eras_on_one_endpoint_at_once(server):
    # A handshake-era client keeps its session beside stateless requests.
    init = post(server, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}})
    sid = init.headers["mcp-session-id"]
    r = post(server, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
    legacy = r.json()["result"]
    assert "resultType" not in legacy and any(t["name"] == "read_file" for t in legacy["tools"])
    r = post(server, {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": META}}, modern_headers("tools/list"))
    assert r.json()["result"]["resultType"] == "complete"


def test_closing_the_stream_cancels_the_call(server, workspace):
    # 2026-07-28: a client that closes its response stream has cancelled the request.
    marker = f"sleep {int(time.time() * 1000) % 100000 + 400000}"
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "exec", "arguments": {"command": marker, "timeout_ms": 60000}, "_meta": dict(META, progressToken="p1")},
    }
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **server.headers(), **modern_headers("tools/call", "exec")}
    with httpx2.Client(timeout=30) as http:
        with http.stream("POST", server.url, json=body, headers=h) as resp:
            assert resp.status_code == 200
            deadline = time.monotonic() + 10
            while not live_pids(marker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert live_pids(marker), "the command never started"
        # Leaving the block closes the stream.
    deadline = time.monotonic() + 10
    while live_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live_pids(marker), "the command outlived the cancelled request"


def test_subscriptions_listen_acknowledges_then_ends_on_drain(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS)
    try:
        body = {"jsonrpc": "2.0", "id": 11, "method": "subscriptions/listen", "params": {"_meta": META, "notifications": {"toolsListChanged": True, "promptsListChanged": True, "somethingElse": True}}}
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **modern_headers("subscriptions/listen")}
        frames = []
        with httpx2.Client(timeout=30) as http:
            with http.stream("POST", srv.url, json=body, headers=h) as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        frames.append(json.loads(line[5:]))
                        if len(frames) == 1:
                            srv.proc.terminate()
        ack = frames[0]
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 11
        # Only what the server honours: tool, resource and prompt list changes.
        assert ack["params"]["notifications"] == {"toolsListChanged": True, "promptsListChanged": True}
        # Draining ends the subscription with a result that says so.
        assert frames[-1]["id"] == 11 and frames[-1]["result"]["resultType"] == "complete"
    finally:
        srv.stop()


def test_abandoning_a_plain_json_request_cancels_the_call(server):
    # Without a progress token the reply is one JSON body; a client that gives up on it
    # (here: its read timeout closes the connection) has cancelled the call just the same.
    marker = f"sleep {int(time.time() * 1000) % 100000 + 500000}"
    body = {
        "jsonrpc": "2.0",
        "id": 8,
        "method": "tools/call",
        "params": {"name": "exec", "arguments": {"command": marker, "timeout_ms": 60000}, "_meta": META},
    }
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **server.headers(), **modern_headers("tools/call", "exec")}
    seen = []

    def watch():
        end = time.monotonic() + 1.4
        while time.monotonic() < end and not seen:
            if live_pids(marker):
                seen.append(True)
            time.sleep(0.05)

    import threading

    t = threading.Thread(target=watch)
    t.start()
    with pytest.raises(httpx2.TimeoutException):
        httpx2.post(server.url, json=body, headers=h, timeout=1.5)
    t.join()
    assert seen, "the command never started"
    deadline = time.monotonic() + 10
    while live_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live_pids(marker), "the command outlived the abandoned request"


def test_tools_say_what_they_do_to_the_world(server):
    # Titles and hints, so clients can run read-only tools without asking.
    r = post(server, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}, modern_headers("tools/list"))
    tools = {t["name"]: t for t in r.json()["result"]["tools"]}
    read = tools["read_file"]
    assert read["title"] == "Read file"
    assert read["annotations"]["readOnlyHint"] is True and read["annotations"]["destructiveHint"] is False
    delete = tools["delete_path"]["annotations"]
    assert delete["readOnlyHint"] is False and delete["destructiveHint"] is True
    assert tools["unsafe_exec"]["annotations"]["openWorldHint"] is True
    assert tools["append_file"]["annotations"]["destructiveHint"] is False
    assert all("annotations" in t and "title" in t for t in tools.values())


def sse_messages(srv, body: dict, headers: dict) -> list[dict]:
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **srv.headers(), **headers}
    out = []
    with httpx2.Client(timeout=60) as http:
        with http.stream("POST", srv.url, json=body, headers=h) as resp:
            if not resp.headers["content-type"].startswith("text/event-stream"):
                return [json.loads(resp.read())]
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    out.append(json.loads(line[5:]))
    return out


def test_log_messages_only_for_requests_that_ask(server):
    # A command whose output passes the inline limit is spilled, and a request that asked
    # for log messages at `notice` or below hears about it on its own response stream.
    big = {"command": "head -c 200000 /dev/zero | tr '\\0' x", "timeout_ms": 30000}
    asked = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "exec", "arguments": big, "_meta": dict(META, **{"io.modelcontextprotocol/logLevel": "info"})}}
    msgs = sse_messages(server, asked, modern_headers("tools/call", "exec"))
    logs = [m for m in msgs if m.get("method") == "notifications/message"]
    assert logs and logs[0]["params"]["level"] == "notice" and "ralph-exec-" in logs[0]["params"]["data"], msgs
    assert msgs[-1]["id"] == 1 and "result" in msgs[-1]
    # Above the message's level: nothing. Without logLevel: a plain JSON reply, no messages.
    strict = json.loads(json.dumps(asked))
    strict["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = "error"
    msgs = sse_messages(server, strict, modern_headers("tools/call", "exec"))
    assert not [m for m in msgs if m.get("method") == "notifications/message"]
    silent = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "exec", "arguments": big, "_meta": META}}
    msgs = sse_messages(server, silent, modern_headers("tools/call", "exec"))
    assert len(msgs) == 1 and msgs[0]["id"] == 2


def test_json_results_match_their_output_schemas(server, workspace):
    # Every tool that declares an output schema returns structuredContent that validates
    # against it, beside the same JSON as text for older clients.
    import jsonschema

    (workspace / "edit-me.txt").write_text("alpha\n")
    r = post(server, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}, modern_headers("tools/list"))
    schemas = {t["name"]: t["outputSchema"] for t in r.json()["result"]["tools"] if "outputSchema" in t and not t["name"].startswith("mcp__ralph__")}
    assert set(schemas) == {"stat_path", "list_allowed_roots", "read_multiple_files", "directory_tree", "search_files", "grep_files", "edit_file"}
    calls = {
        "stat_path": [{"path": "README.md"}, {"path": "missing.txt"}, {"path": "src"}],
        "list_allowed_roots": [{}],
        "read_multiple_files": [{"paths": ["README.md", "missing.txt"]}, {"items": [{"path": "README.md", "line_start": 2, "line_end": 3}]}],
        "directory_tree": [{"path": "."}],
        "search_files": [{"path": ".", "pattern": "*.md"}],
        "grep_files": [{"path": ".", "pattern": "line", "context_before": 1}],
        "edit_file": [{"path": "edit-me.txt", "edits": [{"oldText": "alpha", "newText": "beta"}], "dry_run": True}],
    }
    for i, (name, arg_sets) in enumerate(calls.items()):
        for args in arg_sets:
            body = {"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call", "params": {"name": name, "arguments": args, "_meta": META}}
            res = post(server, body, modern_headers("tools/call", name)).json()["result"]
            assert res.get("isError") is False, (name, res)
            jsonschema.validate(res["structuredContent"], schemas[name])
            assert json.loads(res["content"][0]["text"]) == res["structuredContent"]
