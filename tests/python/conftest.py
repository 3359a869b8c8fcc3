"""Shared fixtures: start the real `ralph-mcp serve` binary on a fresh workspace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("RALPH_MCP_BIN", REPO / "target" / "debug" / "ralph-mcp"))
BANNER = re.compile(r"serving (http://\S+/mcp)")


@dataclass
class Server:
    """A running `ralph-mcp serve` process."""

    proc: subprocess.Popen
    url: str
    workspace: Path
    token: str | None = None
    stderr_lines: list[str] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(
    workspace: Path,
    *,
    capabilities: list[str] | None = None,
    drain: str = "development",
    token: str | None = None,
    extra_session: dict | None = None,
    extra_args: list[str] | None = None,
    session_id: str = "test-session",
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Starts the binary and waits for its banner (which carries the bound URL)."""
    assert BINARY.exists(), f"build the binary first: {BINARY}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RALPH_MCP_", "MCP_AUTH"))}
    if capabilities is not None:
        session = {"session_id": session_id, "run_id": "run-1", "drain": drain, "capabilities": capabilities}
        session.update(extra_session or {})
        env["RALPH_MCP_SESSION_JSON"] = json.dumps(session)
    if token:
        env["MCP_AUTH_TOKEN"] = token
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [str(BINARY), "serve", "--port", "0", "--workspace", str(workspace), *(extra_args or [])],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = BANNER.search(line)
        if m:
            return Server(proc=proc, url=m.group(1), workspace=workspace, token=token, stderr_lines=lines)
    proc.kill()
    raise AssertionError(f"server did not start: {''.join(lines)}")


ALL_CAPS = [
    "workspace.read",
    "workspace.metadata_read",
    "workspace.write_ephemeral",
    "workspace.write_tracked",
    "workspace.edit",
    "workspace.delete",
    "process.exec_bounded",
    "process.exec_unbounded",
    "git.status_read",
    "git.diff_read",
    "run.report_progress",
    "artifact.submit",
    "env.read",
    "media.read",
]

READ_ONLY_CAPS = ["workspace.read", "workspace.metadata_read", "git.status_read", "git.diff_read"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace with a few files, plus a directory outside it holding a secret."""
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "main.rs").write_text("fn main() {\n    println!(\"hello\");\n}\n")
    (ws / "README.md").write_text("# Demo\n\nline two\nline three\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET-VALUE\n")
    (ws / "link-to-secret").symlink_to(outside / "secret.txt")
    (ws / "link-to-outside").symlink_to(outside)
    return ws


@pytest.fixture
def server(workspace: Path):
    srv = start_server(workspace, capabilities=ALL_CAPS, token="test-token-123")
    yield srv
    srv.stop()


@pytest.fixture
def readonly_server(workspace: Path):
    srv = start_server(workspace, capabilities=READ_ONLY_CAPS, drain="review")
    yield srv
    srv.stop()
