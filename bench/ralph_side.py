"""The Python original's side of the bench, run with the ralph-workflow venv's interpreter.

Each subcommand prints one JSON object on stdout:
  outage  WORKSPACE N           kill -9 the server under Ralph's lifecycle, N times
  probe   ENDPOINT N            probe_mcp_http_endpoint latency, N times
Ralph's own logging goes to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
import types
from datetime import timedelta
from pathlib import Path

from bench_http import ready  # noqa: E402  (bench/ is on sys.path)

CAPS = {"workspace.read", "workspace.metadata_read", "git.status_read", "process.exec_bounded"}


def lifecycle_deps():
    from ralph.mcp.server import lifecycle as lc

    deps = lc._default_lifecycle_deps()
    orig = deps.preflight
    # Require read_file only, as ralph-mcp's own preflight does in the bench.
    return dataclasses.replace(deps, preflight=lambda ep, tools, t: orig(ep, ["read_file"], t))


def outage(workspace: str, n: int) -> dict:
    from ralph.mcp.server import lifecycle as lc
    from ralph.workspace import FsWorkspace

    session = types.SimpleNamespace(session_id="bench", run_id="bench-run", drain="development", capabilities=CAPS)
    bridge = lc.start_mcp_server(session, FsWorkspace(Path(workspace)), deps=lifecycle_deps())
    samples = []
    try:
        for _ in range(n):
            old = bridge.process.pid
            os.kill(old, signal.SIGKILL)
            t0 = time.perf_counter()
            while True:
                # Best case for the original: its health check is called in a tight loop.
                bridge.check_health_and_restart_if_needed()
                done: list[float] = []
                if bridge.process.pid != old and ready(bridge.endpoint_uri(), timeout=2.0, timing=done):
                    break
                time.sleep(0.001)
            samples.append((done[0] - t0) * 1000)
            # Outside the quick-crash window, as on the ralph-mcp side; the original also
            # limits restarts per time window, so samples are spaced out.
            time.sleep(2.1)
    finally:
        bridge.shutdown()
    return {"samples_ms": samples}


def probe(endpoint: str, n: int) -> dict:
    from ralph.mcp.protocol._startup_http import probe_mcp_http_endpoint

    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        probe_mcp_http_endpoint(endpoint, timedelta(seconds=5))
        samples.append((time.perf_counter() - t0) * 1000)
    return {"samples_ms": samples}


def main() -> None:
    cmd, *rest = sys.argv[1:]
    if cmd == "outage":
        out = outage(rest[0], int(rest[1]))
    elif cmd == "probe":
        out = probe(rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown subcommand {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
