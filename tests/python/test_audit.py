"""The audit trail: one JSON line per tool call in .agent/audit.jsonl."""

from __future__ import annotations

import hashlib
import json
import time

from conftest import READ_ONLY_CAPS, start_server
from mcp_client import call


def lines(ws, want: int, timeout: float = 5.0) -> list[dict]:
    path = ws / ".agent" / "audit.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            got = [json.loads(line) for line in path.read_text().splitlines()]
            if len(got) >= want:
                return got
        time.sleep(0.05)
    raise AssertionError(f"expected {want} audit lines in {path}")


def test_every_call_is_one_line_with_digest_outcome_duration_and_bytes(workspace):
    srv = start_server(workspace, capabilities=READ_ONLY_CAPS, drain="review")
    try:
        ok = call(srv, "read_file", {"path": "README.md"})
        bad = call(srv, "read_file", {"path": "missing.txt"})
        refused = call(srv, "write_file", {"path": "x", "content": "y"})
        assert not ok.is_error and bad.is_error and refused.is_error
        got = lines(workspace, 3)
    finally:
        srv.stop()
    assert [(g["tool"], g["outcome"]) for g in got] == [("read_file", "ok"), ("read_file", "error"), ("write_file", "refused")]
    digest = hashlib.sha256(json.dumps({"path": "README.md"}, separators=(",", ":")).encode()).hexdigest()
    assert got[0]["args_sha256"] == digest
    # The arguments themselves are never written.
    assert "README.md" not in (workspace / ".agent" / "audit.jsonl").read_text()
    assert got[0]["bytes"] > len("line three") and got[0]["duration_ms"] >= 0
    assert got[0]["session"] == "test-session" and got[0]["ts"].endswith("Z")


def test_the_trail_can_be_turned_off(workspace):
    (workspace / ".agent").mkdir()
    (workspace / ".agent" / "mcp.toml").write_text("[audit]\nenabled = false\n")
    srv = start_server(workspace, capabilities=READ_ONLY_CAPS, drain="review")
    try:
        assert not call(srv, "read_file", {"path": "README.md"}).is_error
    finally:
        srv.stop()
    assert not (workspace / ".agent" / "audit.jsonl").exists()


def test_each_call_is_an_opentelemetry_span_when_an_otlp_endpoint_is_set(workspace):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Collector(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append({"path": self.path, "type": self.headers.get("Content-Type"), "json": json.loads(body)})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    (workspace / ".agent").mkdir()
    (workspace / ".agent" / "mcp.toml").write_text(f'[audit]\notlp_endpoint = "http://127.0.0.1:{collector.server_address[1]}"\n')
    srv = start_server(workspace, capabilities=READ_ONLY_CAPS, drain="review")
    try:
        assert not call(srv, "read_file", {"path": "README.md"}).is_error
        assert call(srv, "read_file", {"path": "missing.txt"}).is_error
    finally:
        srv.stop()  # a graceful stop exports what is pending
        collector.shutdown()
    assert received and all(r["path"] == "/v1/traces" and r["type"] == "application/json" for r in received)
    spans = [s for r in received for rs in r["json"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    attrs = [{a["key"]: list(a["value"].values())[0] for a in s["attributes"]} for s in spans]
    assert [s["name"] for s in spans] == ["tools/call read_file", "tools/call read_file"]
    assert [a["ralph_mcp.outcome"] for a in attrs] == ["ok", "error"]
    assert spans[1]["status"]["code"] in (2, "STATUS_CODE_ERROR")
    resource = {a["key"]: list(a["value"].values())[0] for a in received[0]["json"]["resourceSpans"][0]["resource"]["attributes"]}
    assert resource["service.name"] == "ralph-mcp" and resource["mcp.session.id"] == "test-session"
    assert int(spans[0]["endTimeUnixNano"]) >= int(spans[0]["startTimeUnixNano"])
