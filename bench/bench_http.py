"""A tiny stdlib MCP-over-HTTP client for the bench, so both servers are driven the same way."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

ACCEPT = "application/json, text/event-stream"
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}


def post(url: str, body: dict, headers: dict | None = None, timeout: float = 5.0, timing: list | None = None):
    """POSTs one JSON-RPC message; returns (status, headers, decoded JSON reply or None).
    With `timing`, appends the milliseconds from sending to the last byte of the reply
    (before it is decoded, so the client's JSON parsing is not counted)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json", "Accept": ACCEPT, **(headers or {})}
        t0 = time.perf_counter()
        conn.request("POST", u.path, json.dumps(body), h)
        r = conn.getresponse()
        data = r.read()
        if timing is not None:
            timing.append((time.perf_counter() - t0) * 1000)
        raw = data.decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    reply = None
    if "text/event-stream" in hdrs.get("content-type", ""):
        for line in raw.splitlines():
            if line.startswith("data:") and line[5:].strip():  # skip empty priming events
                reply = json.loads(line[5:])
    elif raw.strip():
        reply = json.loads(raw)
    return r.status, hdrs, reply


def handshake(url: str, timeout: float = 5.0, token: str | None = None, protocol: str | None = None) -> dict:
    """initialize + notifications/initialized; returns the headers later requests need."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    init = INIT if protocol is None else {**INIT, "params": {**INIT["params"], "protocolVersion": protocol}}
    status, hdrs, reply = post(url, init, auth, timeout)
    if status != 200 or not reply or "result" not in reply:
        raise RuntimeError(f"initialize failed: {status} {reply}")
    h = dict(auth)
    if "mcp-session-id" in hdrs:
        h["Mcp-Session-Id"] = hdrs["mcp-session-id"]
    h["MCP-Protocol-Version"] = reply["result"].get("protocolVersion", "2025-06-18")
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, h, timeout)
    return h


def call(url: str, h: dict, method: str, params: dict, timeout: float = 30.0, timing: list | None = None) -> dict:
    status, _, reply = post(url, {"jsonrpc": "2.0", "id": 2, "method": method, "params": params}, h, timeout, timing)
    if status != 200 or not reply or "result" not in reply:
        raise RuntimeError(f"{method} failed: {status} {reply}")
    return reply["result"]


def tools_list_ok(url: str, timeout: float = 2.0) -> bool:
    """A fresh handshake plus tools/list that lists tools."""
    try:
        h = handshake(url, timeout)
        return bool(call(url, h, "tools/list", {}, timeout).get("tools"))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False
