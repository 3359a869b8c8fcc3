"""An agent stand-in for `ralph-mcp run --agent generic`: reads RALPH_MCP_ENDPOINT and
RALPH_MCP_AUTH_TOKEN, initializes once, then loops on tools/call read_file with plain HTTP.

Usage: agent_client.py ITERATIONS [PAUSE_S]
Prints a JSON summary on stdout. Exits 0 when no connection was ever refused and every
answered call returned the file's content; 1 otherwise.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from urllib.parse import urlparse

url = urlparse(os.environ["RALPH_MCP_ENDPOINT"])
token = os.environ.get("RALPH_MCP_AUTH_TOKEN")
iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
summary = {"ok": 0, "refused": 0, "failed_cleanly": 0, "wrong": 0, "endpoint": os.environ["RALPH_MCP_ENDPOINT"], "errors": []}
conn = None
session_id = None


def post(body: dict) -> tuple[int, dict, dict]:
    global conn
    if conn is None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    try:
        conn.request("POST", url.path, json.dumps(body), headers)
        res = conn.getresponse()
        data = res.read()
    except Exception:
        conn.close()
        conn = None
        raise
    return res.status, dict(res.getheaders()), (json.loads(data) if data else {})


status, headers, body = post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "agent", "version": "0"}}})
assert status == 200, (status, body)
session_id = {k.lower(): v for k, v in headers.items()}["mcp-session-id"]
post({"jsonrpc": "2.0", "method": "notifications/initialized"})

for i in range(iterations):
    try:
        status, _, body = post({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": "a.txt"}}})
        if status == 200 and body.get("result", {}).get("content", [{}])[0].get("text") == "hello\n":
            summary["ok"] += 1
        else:
            summary["wrong"] += 1
            summary["errors"].append(f"{status} {body}")
    except ConnectionRefusedError as e:
        summary["refused"] += 1
        summary["errors"].append(repr(e))
    except Exception as e:  # reset or cut short by a dying server: a clean failure
        summary["failed_cleanly"] += 1
        summary["errors"].append(repr(e))
    if pause:
        time.sleep(pause)

print(json.dumps(summary))
sys.exit(0 if summary["refused"] == 0 and summary["wrong"] == 0 else 1)
