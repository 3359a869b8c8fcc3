"""A newcomer's mistakes: each gets one clear message and the documented exit code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import ALL_CAPS, BINARY, REPO, start_server
from mcp_client import call, text_of

USAGE, SUPERVISION, OWN_FAILURE, NOT_STARTED = 2, 124, 125, 127


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RALPH_MCP_", "MCP_AUTH"))}
    env.update(extra)
    return env


def ralph(*args, env=None, timeout=30, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BINARY), *args], env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_a_missing_workspace_says_its_cause_once_and_exits_125(tmp_path):
    p = ralph("serve", "--port", "0", "--workspace", str(tmp_path / "nope"))
    assert p.returncode == OWN_FAILURE, p.stderr
    assert p.stderr.count("No such file or directory") == 1, p.stderr
    assert "STANDALONE" not in p.stderr, "the standalone warning must not precede an unrelated error"


def test_a_bad_config_prints_its_caret_block_once(workspace):
    (workspace / ".agent").mkdir()
    (workspace / ".agent" / "mcp.toml").write_text("[media]\nmax_inline_bytes = \"big\"\n")
    p = ralph("serve", "--port", "0", "--workspace", str(workspace))
    assert p.returncode == OWN_FAILURE
    assert p.stderr.count("max_inline_bytes = \"big\"") == 1, p.stderr


def test_a_misspelled_table_gets_did_you_mean(workspace):
    (workspace / ".agent").mkdir()
    (workspace / ".agent" / "mcp.toml").write_text("[mcp_server.x]\ncommand = \"y\"\n")
    p = ralph("serve", "--port", "0", "--workspace", str(workspace))
    assert p.returncode == OWN_FAILURE
    assert "did you mean `[mcp_servers]`" in p.stderr, p.stderr


def test_no_colour_in_pipes_or_logs(workspace):
    (workspace / ".agent").mkdir()
    (workspace / ".agent" / "mcp.toml").write_text("[media]\nenabled = false\n")
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_env={"RALPH_MCP_LOG": "info"})
    try:
        call(srv, "read_file", {"path": "README.md"})
    finally:
        srv.stop()
    text = "".join(srv.stderr_lines) + (srv.proc.stderr.read() if srv.proc.stderr else "")
    assert "WARN" in text or "warn" in text.lower()
    assert "\x1b[" not in text


@pytest.mark.parametrize("session,needle", [
    ({}, "no session_id"),
    ({"session_id": "s"}, "grants no capabilities"),
    ({"session_id": "s", "capabilities": ["workspace.read"], "allowed_roots": ["/nonexistent-root-x"]},
     "none of the session's allowed_roots exists"),
])
def test_sessions_that_could_serve_nothing_are_refused(workspace, session, needle):
    p = ralph("serve", "--port", "0", "--workspace", str(workspace),
              env=clean_env(RALPH_MCP_SESSION_JSON=json.dumps(session)))
    assert p.returncode == OWN_FAILURE, p.stderr
    assert needle in p.stderr, p.stderr


@pytest.mark.parametrize("var", ["RALPH_MCP_SESSION_FILE", "RALPH_MCP_SESSION_JSON"])
def test_a_session_variable_set_but_empty_is_refused(workspace, var):
    p = ralph("serve", "--port", "0", "--workspace", str(workspace), env=clean_env(**{var: ""}))
    assert p.returncode == OWN_FAILURE, p.stderr
    assert f"{var} is set but empty" in p.stderr


@pytest.mark.parametrize("flag", ["--max-in-flight", "--max-body-bytes"])
def test_zero_limits_are_usage_errors(workspace, flag):
    p = ralph("serve", "--port", "0", "--workspace", str(workspace), flag, "0")
    assert p.returncode == USAGE
    assert flag in p.stderr and ("at least" in p.stderr), p.stderr


def test_an_unknown_drain_lists_the_drains_and_their_grants(workspace):
    p = ralph("run", "--workspace", str(workspace), "--drain", "devlopment", "--", "true")
    assert p.returncode == USAGE
    for drain in ["development", "review", "commit", "analysis", "fix"]:
        assert drain in p.stderr, p.stderr
    assert "process.exec_unbounded" in p.stderr


def test_a_missing_allowed_root_is_refused(workspace):
    p = ralph("run", "--workspace", str(workspace), "--allowed-root", "/nonexistent-root-y", "--", "true")
    assert p.returncode == OWN_FAILURE
    assert "--allowed-root /nonexistent-root-y: no such directory" in p.stderr


def test_a_misspelled_flag_gets_did_you_mean_and_no_misleading_tip(workspace):
    p = ralph("run", "--workspace", str(workspace), "--prot", "0", "--", "true")
    assert p.returncode == USAGE
    assert "'--port'" in p.stderr and "to pass '--prot'" not in p.stderr, p.stderr


def test_forgetting_the_double_dash_gets_a_hint(workspace):
    p = ralph("run", "--workspace", str(workspace), "claude")
    assert p.returncode == USAGE
    assert "put the agent command after `--`" in p.stderr


def test_unknown_tool_arguments_are_named(server):
    res = call(server, "read_file", {"path": "README.md", "line_strat": 2})
    assert res.is_error
    text = text_of(res)
    assert "line_strat" in text and "line_start" in text, text


def test_one_token_story_for_serve_and_the_client_commands(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, token="one-token-story")
    try:
        p = ralph("call", srv.url, "read_file", '{"path":"README.md"}', env=clean_env(MCP_AUTH_TOKEN="one-token-story"))
        assert p.returncode == 0 and "line two" in p.stdout, p.stderr
        p = ralph("probe", srv.url, env=clean_env(MCP_AUTH_TOKEN="one-token-story"))
        assert p.returncode == 0 and p.stdout.startswith("ok"), p.stdout
        p = ralph("probe", srv.url, env=clean_env())
        assert p.returncode == 1 and "RALPH_MCP_AUTH_TOKEN" in p.stdout + p.stderr
    finally:
        srv.stop()


def test_a_taken_port_is_a_runtime_failure_not_a_usage_error(workspace):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        p = ralph("serve", "--port", str(s.getsockname()[1]), "--workspace", str(workspace))
    finally:
        s.close()
    assert p.returncode == OWN_FAILURE
    assert "already taken" in p.stderr


def test_status_file_tells_ralph_mcp_failures_from_the_agents(tmp_path, workspace):
    status = tmp_path / "status.json"
    p = ralph("run", "--workspace", str(workspace), "--status-file", str(status), "--", "sh", "-c", "exit 125")
    assert p.returncode == 125
    rec = json.loads(status.read_text())
    assert rec["ended_by"] == "agent" and rec["agent_exit_code"] == 125
    p = ralph("run", "--workspace", str(workspace), "--status-file", str(status), "--", "no-such-agent-xyz")
    assert p.returncode == NOT_STARTED
    assert json.loads(status.read_text())["ended_by"] in ("agent", "agent_not_started")
    p = ralph("run", "--workspace", str(tmp_path / "missing"), "--status-file", str(status), "--", "true")
    assert p.returncode == OWN_FAILURE
    assert json.loads(status.read_text())["ended_by"] == "start_failed"


def test_the_agent_runs_in_the_workspace_and_git_status_stays_clean(workspace, tmp_path):
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    p = ralph("run", "--workspace", str(workspace), "--", "sh", "-c", "pwd", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert Path(p.stdout.strip()).resolve() == workspace.resolve()
    out = subprocess.run(["git", "status", "--porcelain"], cwd=workspace, capture_output=True, text=True).stdout
    assert ".agent" not in out
    p = ralph("run", "--workspace", str(workspace), "--agent-cwd", str(tmp_path), "--", "sh", "-c", "pwd")
    assert Path(p.stdout.strip()).resolve() == tmp_path.resolve()


def test_run_says_what_it_waits_for(workspace):
    env = clean_env(RALPH_MCP_PREFLIGHT_TIMEOUT_MS="3500")
    p = ralph("run", "--workspace", str(workspace), "--require", "ralph_custom__nobody__tool", "--", "true", env=env)
    assert p.returncode == OWN_FAILURE
    assert "waiting for the MCP server to pass its preflight (requires ralph_custom__nobody__tool" in p.stderr, p.stderr


def test_generated_docs_and_shell_integration():
    p = ralph("tools")
    assert p.returncode == 0
    assert p.stdout == (REPO / "docs" / "tools.md").read_text()
    p = ralph("completions", "bash")
    assert p.returncode == 0 and "ralph-mcp" in p.stdout and "complete" in p.stdout
    p = ralph("man")
    assert p.returncode == 0 and ".TH" in p.stdout
    p = ralph("--help")
    for needle in ["Exit codes:", "125", "MCP_AUTH_TOKEN", "development, fix"]:
        assert needle in p.stdout, needle
    for name in ["LICENSE-MIT", "LICENSE-APACHE", "docs/reference.md"]:
        assert (REPO / name).exists(), name
