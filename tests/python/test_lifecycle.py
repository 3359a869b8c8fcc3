"""Fault injection against `ralph-mcp run` and its supervised server, real processes only.

After every test: no orphan processes, no leftover session files, the same endpoint, and
every request either answered correctly or failed cleanly, never refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BINARY
from procs import processes_with, serve_pids, serving_pid, wait_for

CLIENT = Path(__file__).with_name("agent_client.py")


def agent_pids() -> list[int]:
    """Pids of the stand-in agent itself (not `run` or the shim, whose argv also name it)."""
    found = []
    for p in processes_with(str(CLIENT)):
        try:
            argv0 = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if not argv0.endswith(b"ralph-mcp"):
            found.append(p)
    return found


@pytest.fixture
def env(tmp_path):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    e = {k: v for k, v in os.environ.items() if not k.startswith(("RALPH_MCP_", "MCP_AUTH"))}
    e.update(TMPDIR=str(tmpdir), RALPH_MCP_SUPERVISION_INTERVAL_MS="100", RALPH_MCP_PROBE_TIMEOUT_MS="300")
    return e


@pytest.fixture
def ws(tmp_path):
    w = tmp_path / "ws"
    w.mkdir()
    (w / "a.txt").write_text("hello\n")
    return w


def assert_clean(ws: Path, env: dict):
    assert wait_for(lambda: not serve_pids(ws), 3), f"orphan servers: {serve_pids(ws)}"
    leftovers = [p.name for p in Path(env["TMPDIR"]).iterdir() if p.name.startswith("ralph-mcp-")]
    assert leftovers == [], leftovers


def agent_finished_cleanly(p: subprocess.Popen, ws: Path, env: dict, timeout: float = 60) -> dict:
    """Waits for the run; its stand-in agent must have had every call answered right
    (none refused), and nothing may be left behind. Returns the agent's summary."""
    out, err = p.communicate(timeout=timeout)
    s = json.loads(out)
    assert s["refused"] == 0 and s["wrong"] == 0 and s["ok"] > 0, s
    assert p.returncode == 0, err
    assert_clean(ws, env)
    return s


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def kill_leftover_runs():
    """A failing test must not leave a run (and its agent) behind for the next one."""
    yield
    while STARTED:
        p = STARTED.pop()
        if p.poll() is None:
            p.kill()
            p.communicate()


def run(ws, env, *client_args, extra=()):
    p = subprocess.Popen(
        [str(BINARY), "run", "--workspace", str(ws), "--agent", "generic", *extra, "--", sys.executable, str(CLIENT), *client_args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(p)
    return p


def test_client_calls_work_through_run(ws, env):
    p = run(ws, env, "5")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    s = json.loads(out)
    assert s["ok"] == 5
    assert_clean(ws, env)


def test_agent_exit_code_becomes_runs_exit_code(ws, env):
    p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--", "sh", "-c", "exit 9"], env=env, capture_output=True, timeout=30)
    assert p.returncode == 9
    assert_clean(ws, env)


def test_kill_9_of_serve_restarts_on_the_same_endpoint_without_refusals(ws, env):
    p = run(ws, env, "400", "0.005")
    first = wait_for(lambda: serve_pids(ws))
    assert first
    # Restarts, not the first start: the agent runs once the first server passed its preflight.
    assert wait_for(agent_pids)
    killed = set()
    for _ in range(3):
        pid = wait_for(lambda: (x := serving_pid(ws)) not in killed and x)
        if not pid:
            p.kill()
            _, err = p.communicate()
            raise AssertionError(f"server did not come back after {len(killed)} kills: {err}")
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
        time.sleep(0.3)
    agent_finished_cleanly(p, ws, env)


def test_sigstop_of_serve_is_detected_and_replaced(ws, env):
    p = run(ws, env, "300", "0.01")
    assert wait_for(agent_pids)
    pid = wait_for(lambda: serving_pid(ws))
    os.kill(pid, signal.SIGSTOP)
    replaced = wait_for(lambda: (x := serving_pid(ws)) != pid and x, timeout=15)
    assert replaced, "a hung server was not replaced"
    agent_finished_cleanly(p, ws, env)


def test_kill_9_of_run_leaves_no_server_behind(ws, env):
    p = run(ws, env, "100000", "0.01")
    assert wait_for(lambda: serve_pids(ws))
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(1)
    assert serve_pids(ws) == []
    assert processes_with(str(CLIENT)) == [], "the agent outlived its supervisor"
    # A later run sweeps the session file the killed supervisor could not remove.
    q = run(ws, env, "1")
    q.communicate(timeout=30)
    assert_clean(ws, env)


def test_missing_workspace_fails_fast_with_a_clear_message(env, tmp_path):
    started = time.monotonic()
    p = subprocess.run([str(BINARY), "run", "--workspace", str(tmp_path / "nonexistent"), "--", "true"], env=env, capture_output=True, text=True, timeout=10)
    assert time.monotonic() - started < 2
    assert p.returncode != 0
    assert "nonexistent" in p.stderr and "not usable" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_budget_exhaustion_ends_the_run_with_one_line(ws, env):
    p = run(ws, env, "100000", "0.01", extra=("--max-restarts", "2"))
    # Restarts, not the first start: the agent runs once the first server passed its preflight.
    assert wait_for(agent_pids)
    killed = set()
    for _ in range(3):
        pid = wait_for(lambda: (x := serving_pid(ws)) not in killed and x)
        if not pid:
            p.kill()
            _, err = p.communicate()
            raise AssertionError(f"no new server after {len(killed)} kills: {err}")
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
        time.sleep(0.3)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 124
    lines = [line for line in err.splitlines() if line.startswith("ralph-mcp run:")]
    assert len(lines) == 1 and "restart" in lines[0], err
    assert_clean(ws, env)


def test_crash_loop_on_a_vanished_workspace_ends_in_budget_error(ws, env, tmp_path):
    p = run(ws, env, "100000", "0.01", extra=("--max-restarts", "3"))
    # The agent runs in the workspace: let it start before the workspace goes.
    assert wait_for(agent_pids)
    pid = wait_for(lambda: serving_pid(ws))
    moved = tmp_path / "moved"
    ws.rename(moved)
    os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 124, err
    assert_clean(moved, env)


def test_shutdown_racing_a_restart_leaks_nothing(ws, env):
    for _ in range(3):
        p = run(ws, env, "100000", "0.01")
        # A restart, not the first start: wait for the agent, which runs after the preflight.
        assert wait_for(agent_pids)
        pid = wait_for(lambda: serving_pid(ws))
        os.kill(pid, signal.SIGKILL)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        assert p.returncode == 143
        assert_clean(ws, env)


def test_port_already_taken_is_one_clear_line(ws, env):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--port", str(port), "--", "true"], env=env, capture_output=True, text=True, timeout=10)
        assert p.returncode == 125
        assert "cannot bind" in p.stderr
    finally:
        s.close()
    assert_clean(ws, env)


def test_probe_and_agent_config_subcommands(ws, env):
    script = f'{BINARY} probe "$RALPH_MCP_ENDPOINT" --require read_file --require mcp__ralph__grep_files && {BINARY} probe "$RALPH_MCP_ENDPOINT" --require nope; echo rc=$?'
    p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--", "sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert p.stdout.startswith("ok tools=")
    assert "fail" in p.stdout and "nope" in p.stdout and "rc=1" in p.stdout
    cfg = subprocess.run([str(BINARY), "agent-config", "--agent", "claude", "--endpoint", "http://127.0.0.1:1/mcp", "--token", "t"], capture_output=True, text=True)
    assert json.loads(cfg.stdout)["mcpServers"]["ralph"]["url"] == "http://127.0.0.1:1/mcp"


def test_claude_wiring_passes_a_private_mcp_config(ws, env):
    script = 'for a in "$@"; do echo "$a"; done; f=""; prev=""; for a in "$@"; do [ "$prev" = --mcp-config ] && f=$a; prev=$a; done; stat -c %a "$f"; cat "$f"'
    p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--agent", "claude", "--", "sh", "-c", script, "claude"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "--strict-mcp-config" in p.stdout and "\n600\n" in p.stdout
    cfg = json.loads(p.stdout.split("600\n", 1)[1])
    assert cfg["mcpServers"]["ralph"]["headers"]["Authorization"].startswith("Bearer ")
    assert_clean(ws, env)


class PtyRun:
    """`ralph-mcp run` as the session leader of a pseudo-terminal, the way a person runs it."""

    def __init__(self, ws, env, script: str):
        import pty

        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: a session leader on the pty, in the foreground
            os.execve(str(BINARY), [str(BINARY), "run", "--workspace", str(ws), "--no-auth", "--",
                                    "sh", "-c", script], env)
        self.out = b""

    def read_until(self, marker: bytes, timeout: float = 20) -> bool:
        import select

        deadline = time.monotonic() + timeout
        while marker not in self.out and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    break
        return marker in self.out

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def exit_code(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.master)


def test_an_interactive_agent_gets_the_terminal(ws, env):
    """Under a terminal, the agent (in its own process group) can read it: run hands it the
    foreground, so a prompt is answered instead of the agent being stopped by SIGTTIN."""
    t = PtyRun(ws, env, "printf 'ready> '; read answer; echo got:$answer")
    try:
        assert t.read_until(b"ready> "), t.out
        t.write(b"hello\n")
        assert t.read_until(b"got:hello"), f"the agent could not read the terminal: {t.out!r}"
        assert t.exit_code() == 0
    finally:
        t.close()


def test_the_agents_own_children_die_with_it(ws, env):
    script = "setsid sleep 987671 >/dev/null 2>&1 & (setsid sleep 987672 &) ; exit 3"
    p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--", "sh", "-c", script],
                       env=env, capture_output=True, timeout=30)
    assert p.returncode == 3, p.stderr
    assert wait_for(lambda: not processes_with("sleep 98767"), 5), processes_with("sleep 98767")
    assert_clean(ws, env)


def test_kill_9_of_run_takes_the_agents_children_too(ws, env):
    script = "setsid sleep 987673 >/dev/null 2>&1 & sleep 987674"
    p = subprocess.Popen([str(BINARY), "run", "--workspace", str(ws), "--", "sh", "-c", script],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    STARTED.append(p)
    assert wait_for(lambda: processes_with("sleep 987673"), 10)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: not processes_with("sleep 98767"), 5), processes_with("sleep 98767")
    assert wait_for(lambda: not serve_pids(ws), 5)


def test_ctrl_c_on_the_terminal_is_the_interactive_agents_to_handle(ws, env):
    """The containment shim between run and the agent leaves the terminal's interrupt to the
    agent: an agent that traps SIGINT keeps running."""
    t = PtyRun(ws, env, "trap 'echo caught' INT; printf 'ready> '; "
                        "while ! read answer; do :; done; echo got:$answer")
    try:
        assert t.read_until(b"ready> "), t.out
        t.write(b"\x03")
        assert t.read_until(b"caught"), t.out
        t.write(b"hello\n")
        assert t.read_until(b"got:hello"), f"the agent did not survive Ctrl-C: {t.out!r}"
        assert t.exit_code() == 0
    finally:
        t.close()


def test_claude_flags_go_before_a_double_dash_and_outside_tmpdir(ws, env):
    # A stand-in `claude` that prints its arguments one per line.
    script = 'for a in "$@"; do echo "arg:$a"; done'
    p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--agent", "claude", "--", "sh", "-c", script,
                        "claude", "-p", "--", "fix the test"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    args = [line[4:] for line in p.stdout.splitlines() if line.startswith("arg:")]
    assert args.index("--strict-mcp-config") < args.index("--") < args.index("fix the test"), args
    cfg = args[args.index("--mcp-config") + 1]
    assert cfg.startswith(str(ws / ".agent" / "tmp" / "run-")) and not cfg.startswith(env["TMPDIR"]), cfg
    assert not Path(cfg).exists(), "the per-run directory is removed with the run"
    assert_clean(ws, env)


def test_codex_keeps_the_users_config_and_preapproves_ralph(ws, env, tmp_path):
    user = tmp_path / "codex-user"
    user.mkdir()
    (user / "config.toml").write_text('model = "o4-mini"\n[mcp_servers.other]\ncommand = "other-server"\n')
    (user / "auth.json").write_text("{}")
    script = 'cat "$CODEX_HOME/config.toml"; echo; echo "home:$CODEX_HOME"; ls "$CODEX_HOME"'
    p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--agent", "codex", "--", "sh", "-c", script],
                       env={**env, "CODEX_HOME": str(user)}, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert 'model = "o4-mini"' in p.stdout and "other-server" in p.stdout
    assert 'default_tools_approval_mode = "approve"' in p.stdout
    assert 'bearer_token_env_var = "RALPH_MCP_AUTH_TOKEN"' in p.stdout
    home = next(line[5:] for line in p.stdout.splitlines() if line.startswith("home:"))
    assert home.startswith(str(ws / ".agent" / "tmp")) and "auth.json" in p.stdout
    assert_clean(ws, env)


def test_a_killed_runs_agent_files_are_swept_by_the_next_run(ws, env):
    p = subprocess.Popen([str(BINARY), "run", "--workspace", str(ws), "--agent", "claude", "--", "sh", "-c",
                          "sleep 987681", "claude"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    STARTED.append(p)
    run_dirs = lambda: [d for d in (ws / ".agent" / "tmp").glob("run-*")]  # noqa: E731
    assert wait_for(run_dirs)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert run_dirs(), "a SIGKILLed run cannot clean up itself"
    q = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--", "true"], env=env, capture_output=True, timeout=30)
    assert q.returncode == 0
    assert run_dirs() == []
    assert wait_for(lambda: not processes_with("sleep 987681"), 5)


def test_configured_upstreams_grant_upstream_tool_use(ws, env):
    (ws / ".agent").mkdir(exist_ok=True)
    (ws / ".agent" / "mcp.toml").write_text('[mcp_servers.nothing]\ntransport = "http"\nurl = "http://127.0.0.1:9/mcp"\n')
    script = f'{BINARY} call "$RALPH_MCP_ENDPOINT" ralph_custom__nothing__x; echo rc=$?'
    p = subprocess.run([str(BINARY), "run", "--workspace", str(ws), "--drain", "review", "--", "sh", "-c", script],
                       env=env, capture_output=True, text=True, timeout=60)
    assert "upstream.tool_use" not in p.stdout + p.stderr, p.stdout + p.stderr


def serving_run(ws, env, extra=()) -> tuple[subprocess.Popen, int]:
    """A run whose agent has started, and the pid of its serving server."""
    p = run(ws, env, "100000", "0.01", extra=extra)
    assert wait_for(agent_pids)
    serving = wait_for(lambda: serving_pid(ws))
    assert serving
    return p, serving


def next_server(ws: Path, old: int) -> int | None:
    """Waits for a serving server other than `old`."""
    return wait_for(lambda: (x := serving_pid(ws)) not in (None, old) and x, 10)


def terminate_clean(p: subprocess.Popen, ws: Path, env: dict) -> None:
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert_clean(ws, env)


def standby_pid(ws: Path) -> int | None:
    """The warm standby: the `serve` process for `ws` that is not serving."""
    serving = serving_pid(ws)
    others = [x for x in serve_pids(ws) if x != serving]
    return others[0] if serving and len(others) == 1 else None


def test_a_warm_standby_takes_over_a_crashed_server_and_is_replaced(ws, env):
    p = run(ws, env, "300", "0.01")
    assert wait_for(agent_pids)
    serving = wait_for(lambda: serving_pid(ws))
    standby = wait_for(lambda: standby_pid(ws))
    assert standby, f"no standby beside {serving}: {serve_pids(ws)}"
    # The standby accepts nothing: every call is answered by the serving process.
    assert serving_pid(ws) == serving
    os.kill(serving, signal.SIGKILL)
    # Promoted, not started anew: the standby's own pid serves next.
    assert wait_for(lambda: serving_pid(ws) == standby, 10), (serving_pid(ws), serve_pids(ws))
    # And a new standby stands beside it.
    fresh = wait_for(lambda: standby_pid(ws), 10)
    assert fresh and fresh not in (serving, standby)
    agent_finished_cleanly(p, ws, env)


def test_a_standby_from_an_older_configuration_is_not_promoted(ws, env):
    p, serving = serving_run(ws, env)
    standby = wait_for(lambda: standby_pid(ws))
    assert standby
    (ws / ".agent" / "mcp.toml").write_text("[media]\nmax_inline_bytes = 1000\n")
    os.kill(serving, signal.SIGKILL)
    fresh = next_server(ws, serving)
    assert fresh and fresh != standby, "a standby that read the old configuration was promoted"
    assert wait_for(lambda: standby not in serve_pids(ws), 5), "the stale standby was left running"
    terminate_clean(p, ws, env)


def test_no_standby_keeps_one_server(ws, env):
    p, serving = serving_run(ws, env, extra=("--no-standby",))
    time.sleep(1.5)  # past the moment a standby would have started
    assert serve_pids(ws) == [serving]
    os.kill(serving, signal.SIGKILL)
    assert next_server(ws, serving)
    terminate_clean(p, ws, env)


def test_a_standby_that_dies_while_waiting_is_replaced(ws, env):
    p, serving = serving_run(ws, env)
    standby = wait_for(lambda: standby_pid(ws))
    assert standby
    os.kill(standby, signal.SIGKILL)
    fresh = wait_for(lambda: (x := standby_pid(ws)) not in (None, standby) and x, 10)
    assert fresh, f"no new standby after the first was killed: {serve_pids(ws)}"
    assert serving_pid(ws) == serving, "killing the standby must not touch the serving server"
    terminate_clean(p, ws, env)


def test_a_standby_that_keeps_dying_is_given_up_until_the_next_restart(ws, env):
    p, serving = serving_run(ws, env)
    seen = []
    for _ in range(3):
        standby = wait_for(lambda: (x := standby_pid(ws)) not in seen and x, 10)
        assert standby, f"standby {len(seen) + 1} did not come: {serve_pids(ws)}"
        seen.append(standby)
        os.kill(standby, signal.SIGKILL)
    time.sleep(2)  # past the second a replacement would wait
    assert serve_pids(ws) == [serving], "a fourth standby was started"
    # The next restart (a new server, no standby to promote) brings a standby back.
    os.kill(serving, signal.SIGKILL)
    assert next_server(ws, serving)
    assert wait_for(lambda: standby_pid(ws), 10), serve_pids(ws)
    terminate_clean(p, ws, env)
