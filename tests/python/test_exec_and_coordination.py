"""exec, long jobs, the command policy, and the coordination tools, against the real binary."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest

from conftest import ALL_CAPS, start_server
from mcp_client import call, calls, live_pids, mcp_session, text_of






def payload(res):
    return json.loads(text_of(res))


@pytest.fixture
def dev(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, token="secret-bearer-value", extra_env={"SOME_API_KEY": "hunter2"})
    yield srv
    srv.stop()




def test_exec_runs_commands_in_the_workspace(dev, workspace):
    res = call(dev, "exec", {"command": "cat README.md"})
    assert not res.is_error
    assert payload(res)["stdout"].startswith("# Demo")
    res = call(dev, "exec", {"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    p = payload(res)
    assert res.is_error and p["exit_code"] == 3 and p["stdout"] == "out\n" and p["stderr"] == "err\n"
    res = call(dev, "exec", {"command": "ls src | wc -l"})
    assert payload(res)["stdout"].strip() == "1"
    res = call(dev, "exec", {"argv": ["echo"], "args": ["a b", "c"]})
    assert payload(res)["stdout"] == "a b c\n"


def test_timeout_kills_the_whole_tree_promptly(dev):
    marker = "sleep 100"
    started = time.monotonic()
    res = call(dev, "exec", {"command": "sh -c 'sleep 100 & sleep 100'", "timeout_ms": 500})
    elapsed = time.monotonic() - started
    p = payload(res)
    assert res.is_error and p["timed_out"] is True
    assert elapsed < 10
    deadline = time.monotonic() + 3
    while live_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_pids(marker) == [], "a sleep survived the timeout"


@pytest.mark.parametrize("cmd", ["git push", "sudo true", "git commit -am x", "curl https://example.com", "docker ps", "rm -rf /", "ls && git push origin main"])
def test_policy_refuses_with_a_reason(dev, cmd):
    res = call(dev, "exec", {"command": cmd})
    assert res.is_error
    assert "refused by policy" in text_of(res)


def test_unsafe_exec_only_applies_the_vcs_rule(dev):
    res = call(dev, "unsafe_exec", {"command": "echo $((6*7))"})
    assert not res.is_error and payload(res)["stdout"] == "42\n"
    assert call(dev, "raw_exec", {"command": "git push"}).is_error


def test_fifty_megabytes_of_output_is_bounded_and_spilled(dev, workspace):
    res = call(dev, "exec", {"command": "head -c 52428800 /dev/zero | tr '\\0' 'x'", "timeout_ms": 120000})
    p = payload(res)
    assert not res.is_error, text_of(res)[:500]
    assert len(text_of(res)) < 200_000
    spill = Path(p["stdout_spill_path"])
    assert spill.is_relative_to(workspace / ".agent" / "tmp") and spill.name.startswith("ralph-exec-")
    assert spill.stat().st_size == 52428800 == p["stdout_bytes"]


def test_long_commands_detach_into_jobs(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_env={"RALPH_MCP_EXEC_SOFT_BUDGET_MS": "300"})
    try:
        first, waited = calls(srv, ("exec", {"command": "sleep 1; echo done"}), ("exec_wait", {"job_id": "placeholder"}))
        job = payload(first)
        assert job["status"] == "running"
        assert waited.is_error and "unknown job_id" in text_of(waited)
        res = call(srv, "exec_wait", {"job_id": job["job_id"], "wait_ms": 10000})
        assert not res.is_error and payload(res)["stdout"] == "done\n"
        started = call(srv, "exec", {"command": "sleep 77"})
        jid = payload(started)["job_id"]
        assert live_pids("sleep 77")
        res = call(srv, "exec_cancel", {"job_id": jid})
        assert payload(res)["cancelled"] is True
        assert live_pids("sleep 77") == []
        # Jobs still running at shutdown are killed with the server.
        call(srv, "exec", {"command": "sleep 78"})
        assert live_pids("sleep 78")
    finally:
        srv.stop()
    time.sleep(0.2)
    assert live_pids("sleep 78") == []


@pytest.mark.parametrize(
    "args,needle",
    [
        ({"command": ""}, "empty"),
        ({}, "command"),
        ({"command": "true", "timeout_ms": "soon"}, "timeout_ms"),
        ({"command": "no-such-program-xyz"}, "cannot start"),
        ({"command": "echo 'unbalanced"}, "quotes"),
    ],
)
def test_exec_bad_input_gets_clear_errors(dev, args, needle):
    res = call(dev, "exec", args)
    assert res.is_error and needle in text_of(res), text_of(res)


def test_server_keeps_serving_while_a_command_runs(dev):
    async def body():
        async with mcp_session(dev.url, dev.headers()) as s:
            async with anyio.create_task_group() as tg:
                tg.start_soon(s.call_tool, "exec", {"command": "sleep 2"})
                await anyio.sleep(0.2)
                started = time.monotonic()
                res = await s.call_tool("read_file", {"path": "README.md"})
                assert not res.is_error
                assert time.monotonic() - started < 1.5

    anyio.run(body)


def test_declare_complete_is_durable_across_restarts(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS)
    try:
        res = call(srv, "declare_complete", {"summary": "all done"})
        assert not res.is_error
        assert "[Completion event emitted to pipeline]" in text_of(res)
    finally:
        srv.stop()
    record = json.loads((workspace / ".agent" / "completion" / "run-1.json").read_text())
    assert record["summary"] == "all done" and record["status"] == "complete"
    srv = start_server(workspace, capabilities=ALL_CAPS)
    try:
        res = call(srv, "read_file", {"path": ".agent/completion/run-1.json"})
        assert "all done" in text_of(res)
    finally:
        srv.stop()


def test_declare_complete_fails_loudly_when_it_cannot_persist(workspace):
    (workspace / ".agent").mkdir()
    (workspace / ".agent" / "completion").write_text("a file where a directory should be")
    srv = start_server(workspace, capabilities=ALL_CAPS)
    try:
        res = call(srv, "declare_complete", {"summary": "x"})
        assert res.is_error and "NOT recorded" in text_of(res)
    finally:
        srv.stop()


def test_report_progress_keeps_the_marker(dev, workspace):
    res = call(dev, "report_progress", {"status": "halfway", "note": "tests pass"})
    assert "[Progress event emitted to pipeline]" in text_of(res)
    line = (workspace / ".agent" / "progress" / "run-1.jsonl").read_text().splitlines()[-1]
    assert json.loads(line)["status"] == "halfway"


def test_read_env_redacts_secrets(dev):
    # The bearer token is taken out of the server's environment at start (so no
    # job can read it from /proc/<pid>/environ either): it reads as unset.
    res = call(dev, "read_env", {"name": "MCP_AUTH_TOKEN"})
    assert "secret-bearer-value" not in text_of(res) and "not set" in text_of(res)
    res = call(dev, "read_env", {"name": "SOME_API_KEY"})
    assert "hunter2" not in text_of(res) and "redacted" in text_of(res)
    assert "PATH=" in text_of(call(dev, "read_env", {"name": "PATH"}))
    assert "not set" in text_of(call(dev, "read_env", {"name": "RALPH_MCP_SURELY_UNSET"}))
    # The token never reaches commands either.
    res = call(dev, "exec", {"command": "sh -c 'echo ${MCP_AUTH_TOKEN:-unset}'"})
    assert payload(res)["stdout"] == "unset\n"


def test_failed_calls_count_as_activity(dev, workspace):
    calls(dev, ("read_file", {"path": "missing"}), ("read_file", {"path": "README.md"}))
    path = workspace / ".agent" / "tmp" / "mcp-activity.json"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if path.exists() and json.loads(path.read_text())["tool_calls"] >= 2:
            break
        time.sleep(0.05)
    rec = json.loads(path.read_text())
    assert rec["tool_calls"] == 2 and rec["last_call_unix_ms"] > 0


def test_exec_output_streams_as_progress_while_it_runs(dev):
    """A client that asks for progress sees each line before the command ends."""
    seen: list[tuple[float, str]] = []

    async def on_progress(progress, total, message):
        seen.append((time.monotonic(), message or ""))

    async def body():
        async with mcp_session(dev.url, dev.headers()) as s:
            res = await s.call_tool(
                "exec",
                {"command": "for i in 1 2 3; do echo line$i; sleep 0.4; done; echo oops >&2"},
                progress_callback=on_progress,
            )
            return res, time.monotonic()

    res, finished = anyio.run(body)
    assert not res.is_error
    assert payload(res)["stdout"] == "line1\nline2\nline3\n"
    streamed = "".join(m for _, m in seen)
    for line in ("[stdout] line1", "[stdout] line2", "[stdout] line3", "[stderr] oops"):
        assert line in streamed
    first = next(t for t, m in seen if "line1" in m)
    # line1 was printed about 1.2 s before the command ended; it must not have
    # waited for the result.
    assert finished - first > 0.6


def test_exec_without_progress_token_answers_plain_json(dev):
    from test_http_surface import initialize, post

    h = {"Mcp-Session-Id": initialize(dev)}
    body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "exec", "arguments": {"command": "echo hi"}}}
    r = post(dev, body, h)
    assert r.headers["content-type"].startswith("application/json")
    assert "hi" in r.json()["result"]["content"][0]["text"]
    body["params"]["_meta"] = {"progressToken": "p1"}
    r = post(dev, body, h)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")]
    assert events[-1]["id"] == 5 and "hi" in events[-1]["result"]["content"][0]["text"]
    assert any(e.get("method") == "notifications/progress"
               and e["params"]["progressToken"] == "p1" for e in events[:-1])
