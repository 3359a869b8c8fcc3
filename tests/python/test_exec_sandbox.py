"""`exec` that cannot escape: containment of every process a job starts, and the
Landlock sandbox (writes, network, signals, the bearer token)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from conftest import ALL_CAPS, start_server
from mcp_client import call, live_pids, text_of


def payload(res):
    return json.loads(text_of(res))


def gone(pattern: str, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not live_pids(pattern):
            return True
        time.sleep(0.05)
    return not live_pids(pattern)


@pytest.fixture
def dev(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, token="sandbox-token-xyz",
                       extra_env={"RALPH_MCP_EXEC_SOFT_BUDGET_MS": "3000"})
    yield srv
    srv.stop()


def test_a_setsid_daemon_does_not_outlive_its_job(dev):
    res = call(dev, "unsafe_exec", {"command": "setsid sh -c 'sleep 987651' >/dev/null 2>&1 & echo started"})
    assert payload(res)["stdout"] == "started\n"
    assert gone("sleep 987651")


def test_a_double_forked_pipe_holder_cannot_hold_the_job(dev):
    started = time.monotonic()
    res = call(dev, "unsafe_exec", {"command": "(setsid sh -c 'sleep 987652' &) ; echo quick"})
    assert payload(res)["stdout"] == "quick\n"
    assert time.monotonic() - started < 10
    assert gone("sleep 987652")


def test_stall_window_stops_a_quiet_job_and_its_tree(dev):
    res = call(dev, "unsafe_exec", {"command": "setsid sleep 987653 & sleep 987654", "timeout_ms": 800})
    body = payload(res)
    assert body["timed_out"] is True and body["stopped_by"] == "stall"
    assert body["timeout_ms"] == 800 and body["max_runtime_ms"] == 3600000
    assert gone("sleep 98765")


def test_a_chatty_job_is_stopped_by_max_runtime(dev):
    res = call(dev, "unsafe_exec", {"command": "while true; do echo tick; sleep 0.1; done",
                                    "timeout_ms": 500, "max_runtime_ms": 1500})
    body = payload(res)
    assert body["stopped_by"] == "max_runtime"
    assert body["stdout"].count("tick") >= 5


def test_exec_cancel_stops_the_whole_tree(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_env={"RALPH_MCP_EXEC_SOFT_BUDGET_MS": "300"})
    try:
        res = call(srv, "unsafe_exec", {"command": "setsid sleep 987655 & sleep 987656"})
        jid = payload(res)["job_id"]
        assert live_pids("sleep 987655")
        res = call(srv, "exec_cancel", {"job_id": jid})
        assert payload(res)["cancelled"] is True
        assert gone("sleep 98765")
    finally:
        srv.stop()


def test_kill_9_of_the_server_leaves_no_job_behind(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_env={"RALPH_MCP_EXEC_SOFT_BUDGET_MS": "300"})
    try:
        res = call(srv, "unsafe_exec", {"command": "setsid sleep 987657 & sleep 987658"})
        assert payload(res)["status"] == "running"
        assert live_pids("sleep 987657")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        assert gone("sleep 98765")
    finally:
        srv.stop()


def test_notifications_cancelled_stops_the_job(dev):
    import threading

    from test_http_surface import initialize, post

    h = {"Mcp-Session-Id": initialize(dev)}
    call_body = {"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                 "params": {"name": "unsafe_exec", "arguments": {"command": "setsid sleep 987659 & sleep 987660"}}}
    answers = []
    t = threading.Thread(target=lambda: answers.append(post(dev, call_body, h)))
    t.start()
    deadline = time.monotonic() + 5
    while not live_pids("sleep 987659") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_pids("sleep 987659")
    post(dev, {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 41}}, h)
    t.join(timeout=10)
    assert answers and answers[0].json()["error"]["code"] == -32800
    assert gone("sleep 98765", within=8)


def test_writes_outside_the_roots_are_refused_by_the_kernel(dev, workspace):
    outside = workspace.parent / "outside"
    res = call(dev, "unsafe_exec", {"command": f"echo pwned > {outside}/pwned.txt; echo rc=$?"})
    assert "rc=0" not in payload(res)["stdout"]
    assert not (outside / "pwned.txt").exists()
    res = call(dev, "unsafe_exec", {"command": "echo ok > inside.txt && echo $TMPDIR && echo t > $TMPDIR/t && cat $TMPDIR/t"})
    body = payload(res)
    assert body["exit_code"] == 0, body
    tmpdir, t = body["stdout"].split()
    assert t == "t" and "ralph-mcp-job-" in tmpdir
    assert not os.path.exists(tmpdir), "the job's TMPDIR is removed with the job"
    assert (workspace / "inside.txt").read_text() == "ok\n"
    assert body["sandbox"]["filesystem"] is True and body["sandbox"]["contained"] is True


def test_tcp_connect_is_refused(dev):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        script = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')"
        res = call(dev, "exec", {"command": ["python3", "-c", script]})
        assert "connected" not in payload(res)["stdout"]
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


def test_a_job_cannot_signal_the_server(dev):
    pid = dev.proc.pid
    res = call(dev, "unsafe_exec", {"command": f"kill -TERM {pid}; echo rc=$?"})
    assert "rc=0" not in payload(res)["stdout"]
    time.sleep(0.3)
    assert dev.proc.poll() is None
    assert not call(dev, "read_file", {"path": "README.md"}).is_error


def test_the_token_cannot_be_read_from_proc(dev):
    pid = dev.proc.pid
    res = call(dev, "unsafe_exec", {"command": f"cat /proc/{pid}/environ /proc/{pid}/cmdline; cat /proc/{pid}/mem"})
    assert "sandbox-token-xyz" not in text_of(res)
    with open(f"/proc/{pid}/environ", "rb") as f:
        assert b"sandbox-token-xyz" not in f.read()


def test_a_build_like_command_works_under_tmpdir(dev):
    script = ("mkdir -p $TMPDIR/pkg && printf 'def f():\\n    return 42\\n' > $TMPDIR/pkg/m.py && "
              "python3 -m py_compile $TMPDIR/pkg/m.py && ls $TMPDIR/pkg/__pycache__ | grep -c pyc && "
              "cd $TMPDIR/pkg && python3 -c 'import m; print(m.f())'")
    res = call(dev, "unsafe_exec", {"command": script})
    body = payload(res)
    assert body["exit_code"] == 0, body
    assert body["stdout"].split() == ["1", "42"]


def test_limits_are_validated(dev):
    res = call(dev, "exec", {"command": "true", "max_runtime_ms": 5 * 60 * 60 * 1000})
    assert res.is_error and "4 h" in text_of(res)
    res = call(dev, "exec", {"command": "true", "max_runtime_ms": 4 * 60 * 60 * 1000})
    assert not res.is_error


def test_health_reports_the_sandbox_and_the_resolver(dev):
    import httpx2

    body = httpx2.get(dev.url.rsplit("/mcp", 1)[0] + "/health").json()
    assert body["status"] == "healthy" and body["dispatch"] == "ok"
    assert body["sandbox"]["mode"] == "best-effort" and body["sandbox"]["contained"] is True
    assert body["sandbox"]["filesystem"] is True and body["sandbox"]["network_denied"] is True
    assert body["path_resolver"] == "openat2"


@pytest.mark.parametrize("command,needle", [
    ("nice -n 1 git push", "git push"),
    ("timeout -s KILL 5 git commit -m x", "git commit"),
    ("ionice -c 3 sudo id", "sudo"),
    ("echo push | xargs git", "xargs git"),
    ("eval 'git push'", "git push"),
    ("{ git push; }", "git push"),
    ("if true; then git push; fi", "git push"),
    ("! git push", "git push"),
    ("echo 'git push' | sh", "standard input"),
    ("c=curl; $c https://example.com", "variable"),
    ("python3 -c 'import os; os.system(\"git push\")'", "starts other processes"),
    ("git -c core.fsmonitor='touch x' status", "run other programs"),
    ("git reflog expire --all", "git reflog"),
    ("find . -exec git push \\;", "git push"),
])
def test_deny_list_bypass_shapes_are_refused_with_a_reason(dev, command, needle):
    res = call(dev, "exec", {"command": command})
    assert res.is_error and "refused by policy" in text_of(res) and needle in text_of(res), text_of(res)
