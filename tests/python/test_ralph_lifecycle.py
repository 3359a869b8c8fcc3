"""Ralph Workflow 0.9.30's own lifecycle and completion code driving ralph-mcp.

Each test runs tests/python/ralph_driver.py under the ralph-workflow venv
(tests/.venv-ralph, Python 3.12), where only Ralph's `spawn_process` is replaced so
that it starts `ralph-mcp serve` (Ralph's preflight, unmodified, requires every tool of
each drain), and the swap a Ralph user installs with `ralph-mcp ralph-swap`, under
which nothing of Ralph is replaced at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BINARY, REPO
from procs import serve_pids, wait_for

RALPH_PY = REPO / "tests" / ".venv-ralph" / "bin" / "python"
DRIVER = Path(__file__).with_name("ralph_driver.py")


@pytest.fixture
def ws(tmp_path):
    assert RALPH_PY.exists(), "install ralph-workflow first: scripts/setup-test-deps"
    w = tmp_path / "ws"
    w.mkdir()
    (w / "hello.txt").write_text("hello from the workspace\n")
    yield w
    assert wait_for(lambda: not serve_pids(w), 5), f"servers left behind: {serve_pids(w)}"


def env(ws: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("RALPH_", "MCP_AUTH"))}
    # Ralph's probe and supervision, shortened so a hung server is noticed in a second.
    e.update(RALPH_MCP_BIN=str(BINARY), RALPH_MCP_PROBE_TIMEOUT_MS="500")
    # Ralph writes its session files under $TMPDIR; a SIGKILLed Ralph cannot remove them.
    tmp = ws.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    e["TMPDIR"] = str(tmp)
    return e


def drive(scenario: str, ws: Path, *args: str, timeout: float = 120, python: Path = RALPH_PY) -> dict:
    # Run from the workspace's parent: Ralph's package has modules (`platform`) that
    # would shadow the standard library if its own directory were the working one.
    p = subprocess.run(
        [str(python), str(DRIVER), scenario, str(ws), *args],
        cwd=ws.parent,
        env=env(ws),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_start_mcp_server_in_four_drains_with_probe_and_tool_hash_baseline(ws):
    # Ralph binds the port and hands the socket down by RALPH_MCP_INHERITED_FD; its
    # preflight and its tool-hash baseline send a bare tools/list (no initialize).
    out = drive("drains", ws)
    assert set(out) == {"development", "review", "commit", "analysis"}
    assert all(d["baseline"] for d in out.values()), out


def test_kill_9_is_restarted_on_the_same_endpoint(ws):
    out = drive("kill9", ws)
    assert out["second"] != out["first"]
    assert "hello from the workspace" in out["read"]


def test_a_hung_server_is_replaced_make_before_break(ws):
    # SIGSTOP: Ralph's probe fails, it starts a candidate that must prove its pid,
    # spawn id, session id and tool hash over the private channel before promotion.
    out = drive("sigstop", ws)
    assert out["second"] != out["first"]
    assert "hello from the workspace" in out["read"]


def test_reset_tool_registry_replaces_the_server_make_before_break(ws):
    # The live server acknowledges the pause file and stops accepting; the candidate
    # accepts only after the resume file appears.
    out = drive("reset", ws)
    assert out["second"] != out["first"]
    assert "hello from the workspace" in out["read"]


def test_no_server_outlives_ralph_after_a_respawn_from_another_thread(ws):
    p = subprocess.Popen(
        [str(RALPH_PY), str(DRIVER), "orphan", str(ws)],
        cwd=ws.parent,
        env=env(ws),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = p.stdout.readline()
        assert line, "the driver printed nothing"
        second = json.loads(line)["second"]
        assert second in serve_pids(ws)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    # RALPH_MCP_OWNER_PID names Ralph; the server watches it and exits at once.
    assert wait_for(lambda: second not in serve_pids(ws), 5), "the server outlived Ralph"


def test_completion_and_progress_as_ralph_reads_them(ws):
    out = drive("completion", ws, "broker-secret-1234")
    # The sentinel, HMAC'd with the broker secret Ralph holds; a wrong secret fails.
    assert out["sentinel"] is True
    assert out["db_row"] is True, "the completion is in .agent/state.db, over Ralph's tombstone"
    assert out["sentinel_wrong_secret"] is False
    assert out["explicit"] is True
    assert out["whole_line"] is True, out["text"]
    assert out["session_ids"] and set(out["session_ids"]) == {"sess-development"}
    # The summary's quote and newline are made safe, nothing is dropped.
    assert "summary='it\"s done really'" in out["text"]
    assert out["progress"].startswith("status=halfway note=tests")
    # The secret never reaches a file or the result.
    assert "broker-secret-1234" not in out["text"]
    assert not [p for p in (ws / ".agent").rglob("*") if p.is_file() and b"broker-secret-1234" in p.read_bytes()]


def test_the_development_wrapup_notice_ends_results_after_the_warn_epoch(ws):
    out = drive("wrapup", ws)
    first, *rest = out["blocks"]
    assert "hello from the workspace" in first
    # One more text block, word for word what Ralph's own server appends.
    assert rest == [out["ralphs"]], rest
    assert "minutes remaining" in rest[0]


def test_an_agent_native_upstream_is_served_as_ralph_upstream(ws):
    fixture = Path(__file__).parent / "fixtures" / "upstream_server.py"
    out = drive("agent_upstream", ws, sys.executable, str(fixture))
    assert "ralph_upstream__fx__echo" in out["names"], out["names"]
    assert not [n for n in out["names"] if n.startswith("ralph_custom__")]
    assert "via ralph" in json.dumps(out["echo"]), out["echo"]


def test_a_respawned_server_lists_upstream_tools_from_ralphs_catalog(ws):
    # The server publishes .agent/mcp/parent_catalog.json; Ralph hands it to the next
    # server as RALPH_UPSTREAM_MCP_TOOL_CATALOG, which lists the upstream's tools before
    # reaching it (here the upstream takes 4 s to start), and a call waits for it.
    fixture = Path(__file__).parent / "fixtures" / "upstream_server.py"
    out = drive("catalog", ws, sys.executable, str(fixture))
    assert [t["name"] for t in out["published"]["fx"]][:1] and any(t["name"] == "echo" for t in out["published"]["fx"])
    assert out["listed_at_once"] is True
    # Listed while the upstream was not reached yet; the call then waited for it.
    assert out["state_when_listed"] != "ready", out
    assert "from the catalog" in json.dumps(out["echo"]), out["echo"]


def test_ralphs_activity_relay_hears_every_call(ws):
    out = drive("relay", ws)
    assert out["heard"] == ["read_file", "stat_path"], out
    assert out["health"] is None, out
    # The credential is blanked from the server's environment block at start.
    assert out["credential_in_environ"] is False


def swap(python: Path, action: str) -> str:
    p = subprocess.run([str(BINARY), "ralph-swap", action, "--python", str(python)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_ralph_swap_makes_ralphs_unreplaced_lifecycle_start_ralph_mcp(ws, tmp_path):
    # A Ralph installation of its own (a venv seeing the ralph-workflow venv's packages),
    # so the swap never touches the venv the other tests use.
    venv = tmp_path / "ralph-env"
    subprocess.run([str(RALPH_PY), "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    ralph_site = subprocess.run([str(RALPH_PY), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    (site / "ralph-workflow.pth").write_text(ralph_site + "\n")
    (ws / "lib.py").write_text("def helper():\n    pass\n\n\ndef caller():\n    helper()\n")

    assert "not installed" in swap(python, "status")
    installed = swap(python, "install")
    assert "Ralph Workflow 0.9.30" in installed and str(BINARY.resolve()) in installed
    assert "starts " + str(BINARY.resolve()) in swap(python, "status")
    # Any other use of that Python is untouched.
    plain = subprocess.run([str(python), "-c", "print('plain')"], capture_output=True, text=True, check=True)
    assert plain.stdout == "plain\n" and plain.stderr == ""

    out = drive("swap", ws, python=python)
    assert out["exe"] == str(BINARY.resolve()) and out["exe_after_restart"] == str(BINARY.resolve())
    assert out["read"] == out["read_after_restart"] == "hello from the workspace\n"
    assert "sym:lib.py#caller" in out["callers"]
    assert out["baseline"] is True

    assert "removed" in swap(python, "remove")
    assert not (site / "ralph_mcp_swap.pth").exists() and not (site / "ralph_mcp_swap.py").exists()
    assert "not installed" in swap(python, "status")


def test_ralph_swap_refuses_an_interpreter_without_ralph_and_writes_nothing():
    python = Path(sys.executable)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    p = subprocess.run([str(BINARY), "ralph-swap", "install", "--python", str(python)], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "has no ralph-workflow installed" in p.stderr and "--python" in p.stderr
    assert not (site / "ralph_mcp_swap.pth").exists() and not (site / "ralph_mcp_swap.py").exists()
    missing = subprocess.run([str(BINARY), "ralph-swap", "status"], capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": "/nonexistent"})
    assert missing.returncode != 0 and "no `ralph` on PATH" in missing.stderr
