"""Finding the processes a test started: servers by workspace, anything by command line."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line mentions `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z" and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


def serve_pids(ws: Path) -> list[int]:
    """Pids of `ralph-mcp serve` processes for this workspace."""
    found = []
    for p in processes_with(str(ws)):
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == b"serve":
            found.append(p)
    return found


def serving_pid(ws: Path) -> int | None:
    """The `serve` process that is serving this workspace, not the warm standby
    `run` keeps beside it: the live one named by `.agent/tmp/mcp-activity.json`,
    which a server writes shortly (0.1 s) after it starts accepting."""
    try:
        pid = json.loads((ws / ".agent" / "tmp" / "mcp-activity.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    return pid if pid in serve_pids(ws) else None


def wait_for(pred, timeout=10.0, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
