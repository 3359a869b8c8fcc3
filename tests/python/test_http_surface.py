"""Plain HTTP with hand-made requests, good and bad, against the real binary."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

import httpx2
import pytest

from conftest import ALL_CAPS, start_server

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "ralph", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def post(srv, body, headers=None, raw=None):
    h = dict(ACCEPT)
    h.update(srv.headers())
    h.update(headers or {})
    if raw is not None:
        return httpx2.post(srv.url, content=raw, headers=h)
    return httpx2.post(srv.url, json=body, headers=h)


def initialize(srv) -> str:
    r = post(srv, INIT)
    assert r.status_code == 200, r.text
    return r.headers["mcp-session-id"]


def test_ralph_preflight_sequence_passes(server):
    """Ralph Workflow's preflight: initialize 2024-11-05, initialized, tools/list with read_file."""
    r = post(server, INIT)
    assert r.status_code == 200
    sid = r.headers.get("mcp-session-id")
    assert sid, "Ralph's preflight fails without Mcp-Session-Id"
    assert r.json()["result"]["protocolVersion"] == "2024-11-05"
    r = post(server, {"jsonrpc": "2.0", "method": "notifications/initialized"}, {"Mcp-Session-Id": sid})
    assert r.status_code == 202
    r = post(server, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, {"Mcp-Session-Id": sid})
    names = {t["name"] for t in r.json()["result"]["tools"]}
    assert "read_file" in names or "mcp__ralph__read_file" in names


def test_foreign_origin_gets_403(server):
    r = post(server, INIT, {"Origin": "http://evil.example.com"})
    assert r.status_code == 403
    r = post(server, INIT, {"Origin": "http://localhost:3000"})
    assert r.status_code == 200


def test_foreign_host_gets_403(server):
    r = post(server, INIT, {"Host": "evil.example.com"})
    assert r.status_code == 403


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic dGVzdA==", "Bearer test-token-12"])
def test_missing_or_wrong_token_gets_401(server, auth):
    h = dict(ACCEPT)
    if auth:
        h["Authorization"] = auth
    r = httpx2.post(server.url, json=INIT, headers=h)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == -32001


def test_metrics_need_the_token_and_health_does_not(server):
    base = server.url.rsplit("/", 1)[0]
    assert httpx2.get(base + "/metrics").status_code == 401
    assert httpx2.get(base + "/health").json()["status"] == "healthy"
    sid = initialize(server)
    post(server, {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": "nope"}}}, {"Mcp-Session-Id": sid})
    text = httpx2.get(base + "/metrics", headers=server.headers()).text
    assert 'ralph_mcp_tool_calls_total{tool="read_file",outcome="error"} 1' in text
    assert "ralph_mcp_activity_tool_calls_total 1" in text


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"\xff\xfe", b'{"jsonrpc":"2.0","id":1,"method":'])
def test_malformed_json_gets_400_parse_error(server, raw):
    r = post(server, None, raw=raw)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == -32700
    # The id could not be read, so the reply has none (the schema allows no null id).
    assert "id" not in r.json()


@pytest.mark.parametrize(
    "body",
    [[INIT], 42, "x", {"id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": None, "method": "ping"}, {"jsonrpc": "2.0", "id": 1}],
)
def test_invalid_requests_get_400(server, body):
    r = post(server, body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == -32600
    # An id that was read is echoed; one that could not be is left out, never null.
    reply = r.json()
    if isinstance(body, dict) and isinstance(body.get("id"), int):
        assert reply["id"] == body["id"]
    else:
        assert "id" not in reply


def test_oversize_body_gets_413(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_args=["--max-body-bytes", "1024"])
    try:
        r = post(srv, None, raw=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "pad": "x" * 4096}).encode())
        assert r.status_code == 413
        assert "error" in r.json()
        assert post(srv, INIT).status_code == 200
    finally:
        srv.stop()


def test_unknown_tool_gets_32602_naming_available_tools(server):
    sid = initialize(server)
    r = post(server, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope", "arguments": {}}}, {"Mcp-Session-Id": sid})
    err = r.json()["error"]
    assert err["code"] == -32602
    assert "read_file" in err["message"]


def test_session_header_rules(server):
    ping = {"jsonrpc": "2.0", "id": 4, "method": "ping"}
    # One session per server: a request without the header is served as it
    # (Ralph's bare tools/list baseline); an id this server never issued is 404.
    r = post(server, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
    assert r.status_code == 200 and any(t["name"] == "read_file" for t in r.json()["result"]["tools"])
    assert post(server, ping).status_code == 200
    assert post(server, ping, {"Mcp-Session-Id": "forged"}).status_code == 404
    sid = initialize(server)
    r = post(server, ping, {"Mcp-Session-Id": sid})
    assert r.status_code == 200 and r.json()["result"] == {}
    r = post(server, ping, {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "1999-01-01"})
    assert r.status_code == 400


def test_get_and_delete_answer_405(server):
    assert httpx2.get(server.url, headers=server.headers()).status_code == 405
    assert httpx2.delete(server.url, headers=server.headers()).status_code == 405


def test_unknown_method_gets_32601(server):
    sid = initialize(server)
    r = post(server, {"jsonrpc": "2.0", "id": 9, "method": "completion/complete"}, {"Mcp-Session-Id": sid})
    assert r.json()["error"]["code"] == -32601


def test_version_negotiation(server):
    for asked, expected in [("2025-06-18", "2025-06-18"), ("2025-03-26", "2025-03-26"), ("1990-01-01", "2025-11-25")]:
        body = json.loads(json.dumps(INIT))
        body["params"]["protocolVersion"] = asked
        assert post(server, body).json()["result"]["protocolVersion"] == expected


def test_non_loopback_host_is_refused_without_allow_remote(workspace):
    from conftest import BINARY

    r = subprocess.run([str(BINARY), "serve", "--host", "0.0.0.0", "--port", "0", "--workspace", str(workspace)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "--allow-remote" in r.stderr


def test_bad_session_file_fails_at_start_naming_the_file(workspace, tmp_path):
    from conftest import BINARY

    bad = tmp_path / "session.json"
    bad.write_text("{not json")
    env = dict(os.environ, RALPH_MCP_SESSION_FILE=str(bad))
    r = subprocess.run([str(BINARY), "serve", "--port", "0", "--workspace", str(workspace)], capture_output=True, text=True, timeout=10, env=env)
    assert r.returncode != 0
    assert str(bad) in r.stderr


def test_saturation_answers_503_fast_while_ping_still_works(workspace):
    """With one slot, a second concurrent tool call is refused at once with 503."""
    big = workspace / "big"
    big.mkdir()
    for i in range(300):
        (big / f"f{i}.txt").write_text("needle\n" * 2000)
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_args=["--max-in-flight", "1"])
    try:
        sid = initialize(srv)
        h = {"Mcp-Session-Id": sid}
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "grep_files", "arguments": {"pattern": "needle", "path": ".", "limit": 100000}}}
        statuses = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                statuses.append(post(srv, call, h).status_code)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while 503 not in statuses and time.monotonic() < deadline:
            assert post(srv, {"jsonrpc": "2.0", "id": 8, "method": "ping"}, h).status_code == 200
        stop.set()
        for t in threads:
            t.join()
        assert 503 in statuses
        assert set(statuses) <= {200, 503}
    finally:
        srv.stop()


def test_sigterm_exits_cleanly(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS)
    initialize(srv)
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=10) == 0
    host, port = srv.url.split("//")[1].split("/")[0].split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1)


def test_listen_fd_serves_an_inherited_socket(workspace):
    from conftest import BINARY

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALPH_MCP_")}
    proc = subprocess.Popen([str(BINARY), "serve", "--listen-fd", str(sock.fileno()), "--workspace", str(workspace)], pass_fds=[sock.fileno()], env=env, stderr=subprocess.DEVNULL)
    try:
        # Connections made before the server is up wait in the backlog.
        r = httpx2.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=ACCEPT, timeout=10)
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        sock.close()


def test_ralphs_unserved_tools_say_so(server):
    sid = initialize(server)
    r = post(server, {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "mcp__ralph__media_capture", "arguments": {"target": "web"}}}, {"Mcp-Session-Id": sid})
    err = r.json()["error"]
    assert err["code"] == -32602 and "does not serve yet" in err["message"] and "`media_capture`" in err["message"]
