"""A tiny stdlib MCP-over-HTTP client for the bench, so both servers are driven the same way."""

from __future__ import annotations

import http.client
import json
import socket
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


class _Conn:
    """One keep-alive HTTP/1.1 connection that sends pre-encoded requests and reads
    whole replies (Content-Length or chunked): the lean client the start-up figures
    use, so they count the server's time rather than the client's."""

    def __init__(self, host: str, port: int, timeout: float):
        self.addr, self.timeout = (host, port), timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _fill(self) -> None:
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("connection closed mid-reply")
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def post(self, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {self.addr[0]}:{self.addr[1]}\r\n{head}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = int(self._line().split()[1])
        hdrs = {}
        while line := self._line():
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "chunked" in hdrs.get("transfer-encoding", ""):
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._take(size))
                self._line()
            while self._line():  # trailers
                pass
            data = b"".join(parts)
        else:
            data = self._take(int(hdrs.get("content-length", "0")))
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, data


def _reply(hdrs: dict, data: bytes) -> dict | None:
    raw = data.decode("utf-8", "replace")
    if "text/event-stream" in hdrs.get("content-type", ""):
        reply = None
        for line in raw.splitlines():
            if line.startswith("data:") and line[5:].strip():
                reply = json.loads(line[5:])
        return reply
    return json.loads(raw) if raw.strip() else None


def ready(url: str, timeout: float = 2.0, timing: list | None = None) -> bool:
    """initialize, notifications/initialized and tools/list on one keep-alive
    connection, as an agent's client does; True when tools are listed. With
    `timing`, appends the perf_counter() at which the last byte of the tools/list
    reply arrived: the replies are checked after that, so decoding them (an 80 KB
    tools list takes Python about half a millisecond) is not counted."""
    u = urlsplit(url)
    conn = _Conn(u.hostname, u.port, timeout)
    base = {"Content-Type": "application/json", "Accept": ACCEPT}
    try:
        status, hdrs, data = conn.post(u.path, base, json.dumps(INIT).encode())
        init = _reply(hdrs, data) if status == 200 else None
        if not init or "result" not in init:
            return False
        h = {**base, "MCP-Protocol-Version": init["result"].get("protocolVersion", "2025-06-18")}
        if "mcp-session-id" in hdrs:
            h["Mcp-Session-Id"] = hdrs["mcp-session-id"]
        status, _, _ = conn.post(u.path, h, b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        if status not in (200, 202):
            return False
        status, hdrs, data = conn.post(u.path, h, b'{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}')
        done = time.perf_counter()
        listed = _reply(hdrs, data) if status == 200 else None
        ok = bool(listed and listed.get("result", {}).get("tools"))
        if ok and timing is not None:
            timing.append(done)
        return ok
    except (OSError, ValueError):
        return False
    finally:
        conn.close()
