"""Confinement that the kernel enforces: races, special files, magic links, git,
the server's own files, concurrent mutations, read caps and temp-file litter.
Race and magic-link tests run on both resolvers (openat2 and the O_NOFOLLOW walk)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import anyio
import pytest

from conftest import ALL_CAPS, start_server
from mcp_client import call, mcp_session, text_of

RESOLVERS = {"openat2": {}, "fallback": {"RALPH_MCP_NO_OPENAT2": "1"}}


@pytest.fixture(params=list(RESOLVERS))
def any_resolver(request, workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_env=RESOLVERS[request.param])
    yield srv
    srv.stop()


def test_a_directory_flipping_to_an_outside_symlink_never_leaks(any_resolver, workspace):
    outside = workspace.parent / "outside"
    real = workspace / "flip-real"
    real.mkdir()
    (real / "inside.txt").write_text("inside\n")
    link = workspace / "flip-link"
    link.symlink_to(outside)
    flip = workspace / "flip"
    stop = threading.Event()

    def flipper():
        while not stop.is_set():
            for src in (real, link):
                try:
                    os.rename(src, flip)
                    os.rename(flip, src)
                except OSError:
                    pass

    seen: list[str] = []
    before = set(p.name for p in outside.iterdir())

    async def client(n: int):
        async with mcp_session(any_resolver.url) as s:
            i = 0
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                i += 1
                for tool, args in (
                    ("read_file", {"path": "flip/secret.txt"}),
                    ("read_file", {"path": "flip/inside.txt"}),
                    ("list_directory", {"path": "flip"}),
                    ("grep_files", {"pattern": "SECRET", "path": "flip"}),
                    ("write_file", {"path": f"flip/new-{n}-{i}.txt", "content": "x"}),
                    ("stat_path", {"path": "flip/secret.txt"}),
                ):
                    seen.append(text_of(await s.call_tool(tool, args)))

    async def body():
        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(client, n)

    t = threading.Thread(target=flipper)
    t.start()
    try:
        anyio.run(body)
    finally:
        stop.set()
        t.join()
    assert len(seen) > 100
    assert not any("TOP-SECRET" in s for s in seen)
    assert not any("secret.txt" in s and "size_bytes" in s for s in seen)
    assert not any("[FILE] flip/secret.txt" in s for s in seen)
    assert set(p.name for p in outside.iterdir()) == before


@pytest.mark.parametrize("resolver", list(RESOLVERS))
def test_magic_links_and_proc_paths_are_refused(workspace, resolver):
    (workspace / "proc-root").symlink_to("/proc/self/root")
    (workspace / "fd-link").symlink_to("/proc/self/cwd")
    srv = start_server(workspace, capabilities=ALL_CAPS, extra_env=RESOLVERS[resolver])
    try:
        for path in ["proc-root/etc/passwd", "/proc/self/root/etc/passwd", "fd-link/README.md", "proc-root"]:
            res = call(srv, "read_file", {"path": path})
            assert res.is_error and "root:" not in text_of(res), path
        res = call(srv, "write_file", {"path": "proc-root/tmp/pwned", "content": "x"})
        assert res.is_error
        assert not Path("/tmp/pwned").exists()
    finally:
        srv.stop()


def test_fifos_and_sockets_are_refused_without_blocking(server, workspace):
    os.mkfifo(workspace / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(workspace / "sock"))
    try:
        started = time.monotonic()
        res = call(server, "read_file", {"path": "pipe"})
        assert res.is_error and "FIFO" in text_of(res)
        res = call(server, "read_file", {"path": "sock"})
        assert res.is_error and "socket" in text_of(res)
        res = call(server, "grep_files", {"pattern": "hello"})
        assert not res.is_error and "src/main.rs" in text_of(res)
        res = call(server, "read_media", {"path": "pipe"})
        assert res.is_error

        async def many():
            async with mcp_session(server.url, server.headers()) as s:
                async with anyio.create_task_group() as tg:
                    for _ in range(80):
                        tg.start_soon(s.call_tool, "read_file", {"path": "pipe"})

        anyio.run(many)
        assert "line two" in text_of(call(server, "read_file", {"path": "README.md"}))
        assert time.monotonic() - started < 30
    finally:
        sock.close()


def test_the_servers_own_files_refuse_a_symlinked_agent_dir(workspace):
    outside = workspace.parent / "outside"
    before = sorted(p.name for p in outside.iterdir())
    (workspace / ".agent").symlink_to(outside)
    with pytest.raises(AssertionError, match=r"\.agent is a symlink, not a directory"):
        start_server(workspace, capabilities=ALL_CAPS)
    assert sorted(p.name for p in outside.iterdir()) == before


def test_a_agent_dir_swapped_for_a_symlink_while_serving_is_refused(server, workspace):
    outside = workspace.parent / "outside"
    assert not call(server, "report_progress", {"status": "before"}).is_error
    agent = workspace / ".agent"
    agent.rename(workspace / "agent-moved")
    agent.symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())
    res = call(server, "report_progress", {"status": "working"})
    assert res.is_error and "symlink" in text_of(res)
    res = call(server, "declare_complete", {"summary": "done"})
    assert res.is_error and "NOT recorded" in text_of(res)
    call(server, "exec", {"command": "python3 -c \"print('x' * 200000)\""})
    time.sleep(0.5)
    assert sorted(p.name for p in outside.iterdir()) == before


def test_a_forged_media_entry_cannot_read_outside(server, workspace):
    media = workspace / ".agent" / "tmp" / "media"
    media.mkdir(parents=True)
    uid = str(uuid.uuid4())
    entry = {"uri": f"ralph://media/{uid}", "name": "x.png", "mime_type": "image/png", "modality": "image",
             "size": 10, "sha256": "0" * 64, "created_unix_ms": 1}
    (media / f"{uid}.json").write_text(json.dumps(entry))
    (media / f"{uid}.bin").symlink_to("/etc/passwd")

    async def body():
        async with mcp_session(server.url, server.headers()) as s:
            try:
                return await s.read_resource(f"ralph://media/{uid}")
            except Exception as e:  # noqa: BLE001 - an MCP error is the expected outcome
                return e

    out = anyio.run(body)
    assert "root:" not in str(out)
    res = call(server, "read_media", {"path": f"ralph://media/{uid}"})
    assert res.is_error and "root:" not in text_of(res)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_git_does_not_read_a_parent_repository(tmp_path):
    outer = tmp_path / "outer"
    ws = outer / "ws"
    ws.mkdir(parents=True)
    (outer / "private.txt").write_text("PARENT-SECRET\n")
    git(outer, "init", "-q")
    git(outer, "add", "private.txt")
    git(outer, "commit", "-qm", "p")
    srv = start_server(ws, capabilities=ALL_CAPS)
    try:
        for tool, args in [("git_show", {"ref": "HEAD:private.txt"}), ("git_log", {}), ("git_status", {})]:
            res = call(srv, tool, args)
            assert res.is_error and "PARENT-SECRET" not in text_of(res), tool
            assert "not inside a git repository" in text_of(res)
    finally:
        srv.stop()


def test_a_gitfile_pointing_outside_is_refused(tmp_path, workspace):
    other = tmp_path / "other"
    other.mkdir()
    (other / "f.txt").write_text("OTHER-REPO-SECRET\n")
    git(other, "init", "-q")
    git(other, "add", "f.txt")
    git(other, "commit", "-qm", "o")
    srv = start_server(workspace, capabilities=ALL_CAPS)
    try:
        res = call(srv, "write_file", {"path": ".git", "content": f"gitdir: {other}/.git\n"})
        assert res.is_error and "git's own directory" in text_of(res)
        for path in [".git/config", ".git/hooks/pre-commit"]:
            res = call(srv, "write_file", {"path": path, "content": "x"})
            assert res.is_error, path
        # A gitfile that got there another way is still refused when git runs.
        (workspace / ".git").write_text(f"gitdir: {other}/.git\n")
        res = call(srv, "git_show", {"ref": "HEAD:f.txt"})
        assert res.is_error and "OTHER-REPO-SECRET" not in text_of(res) and "outside" in text_of(res)
    finally:
        srv.stop()


def test_roots_narrower_than_the_repository_limit_git(tmp_path):
    ws = tmp_path / "repo"
    (ws / "sub").mkdir(parents=True)
    (ws / "top.txt").write_text("TOP-LEVEL-SECRET\n")
    (ws / "sub" / "ok.txt").write_text("visible\n")
    git(ws, "init", "-q")
    git(ws, "add", ".")
    git(ws, "commit", "-qm", "c")
    (ws / "top.txt").write_text("TOP-LEVEL-SECRET changed\n")
    (ws / "sub" / "ok.txt").write_text("visible changed\n")
    srv = start_server(ws, capabilities=ALL_CAPS, extra_session={"allowed_roots": [str(ws / "sub")]},
                       extra_args=[])
    try:
        res = call(srv, "git_show", {"ref": "HEAD:top.txt", "cwd": str(ws / "sub")})
        assert res.is_error and "TOP-LEVEL-SECRET" not in text_of(res)
        res = call(srv, "git_diff", {"cwd": str(ws / "sub")})
        assert not res.is_error and "visible changed" in text_of(res)
        assert "TOP-LEVEL" not in text_of(res)
        res = call(srv, "git_diff", {"args": ["--", "../top.txt"], "cwd": str(ws / "sub")})
        assert res.is_error and "TOP-LEVEL" not in text_of(res)
        res = call(srv, "git_status", {"cwd": str(ws / "sub")})
        assert "top.txt" not in text_of(res)
        res = call(srv, "git_show", {"ref": "HEAD", "cwd": str(ws / "sub")})
        assert "TOP-LEVEL" not in text_of(res) and "visible" in text_of(res)
    finally:
        srv.stop()


def test_concurrent_edits_and_appends_are_never_lost(server, workspace):
    (workspace / "ledger.txt").write_text("END\n")
    applied: list[str] = []

    async def editor(n: int):
        async with mcp_session(server.url, server.headers()) as s:
            for i in range(12):
                token = f"tok-{n}-{i}"
                cur = text_of(await s.call_tool("read_file", {"path": "ledger.txt"}))
                h = hashlib.sha256(cur.encode()).hexdigest()
                res = await s.call_tool("edit_file", {"path": "ledger.txt", "expected_content_hash": h,
                                                      "edits": [{"oldText": "END", "newText": f"{token}\nEND"}]})
                if not res.is_error and '"applied"' in text_of(res):
                    applied.append(token)
                await s.call_tool("append_file", {"path": "appends.txt", "content": f"{token}\n"})

    async def body():
        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(editor, n)

    anyio.run(body)
    final = (workspace / "ledger.txt").read_text().split("\n")
    assert applied, "no edit was applied at all"
    assert [t for t in applied if t not in final] == []
    appended = (workspace / "appends.txt").read_text().split("\n")
    assert len([x for x in appended if x]) == 8 * 12


def test_every_read_mode_honours_max_bytes(server, workspace):
    big = workspace / "one-line.txt"
    with open(big, "w") as f:
        f.write("a" * (16 * 1024 * 1024))
        f.write("\nsecond line\n")
    for args in [
        {"line_start": 1, "line_end": 1, "max_bytes": 1000},
        {"head": 1, "max_bytes": 1000},
        {"tail": 2, "max_bytes": 1000},
        {"offset": 0, "limit": 5_000_000, "max_bytes": 1000},
        {"max_bytes": 1000},
    ]:
        res = call(server, "read_file", {"path": "one-line.txt", **args})
        assert not res.is_error, (args, text_of(res)[:200])
        body = json.loads(text_of(res))
        assert len(body["content"]) <= 1000, args
        assert body["truncated"] is True, args


def test_interrupted_write_litter_is_swept_at_start(workspace):
    old = workspace / "src" / ".ralph-mcp-tmp-0123456789abcdef"
    old.write_bytes(b"x" * 4096)
    past = time.time() - 300
    os.utime(old, (past, past))
    fresh = workspace / "src" / ".ralph-mcp-tmp-fedcba9876543210"
    fresh.write_bytes(b"y")
    srv = start_server(workspace, capabilities=ALL_CAPS)
    try:
        deadline = time.monotonic() + 10
        while old.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not old.exists()
        assert fresh.exists()
    finally:
        srv.stop()


def test_agent_dir_is_ignored_by_git(server, workspace):
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    call(server, "report_progress", {"status": "x"})
    out = subprocess.run(["git", "status", "--porcelain"], cwd=workspace, capture_output=True, text=True).stdout
    assert ".agent" not in out
