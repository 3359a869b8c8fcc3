"""Write and git tools against real git repositories, through the Python MCP SDK."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import anyio
import pytest

from conftest import ALL_CAPS, start_server
from mcp_client import call, calls, mcp_session, text_of

COMMIT_DRAIN = ["workspace.read", "workspace.metadata_read", "git.status_read", "git.diff_read", "artifact.submit", "process.exec_bounded", "media.read", "run.report_progress", "workspace.write_ephemeral"]


def git(ws: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(workspace: Path) -> Path:
    git(workspace, "init", "-q")
    git(workspace, "config", "user.email", "t@example.com")
    git(workspace, "config", "user.name", "Test")
    (workspace / "tracked.txt").write_text("original\n")
    (workspace / "crlf.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    (workspace / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (workspace / "run.sh").chmod(0o755)
    git(workspace, "add", "tracked.txt", "crlf.txt", "run.sh", "README.md")
    git(workspace, "commit", "-qm", "init")
    return workspace






@pytest.fixture
def dev(repo):
    srv = start_server(repo, capabilities=ALL_CAPS, drain="development")
    yield srv
    srv.stop()


def test_commit_session_creates_new_file_but_cannot_overwrite_tracked(repo):
    srv = start_server(repo, capabilities=COMMIT_DRAIN, drain="commit")
    try:
        new, tracked = calls(srv, ("write_file", {"path": "notes/new.md", "content": "hi"}), ("write_file", {"path": "tracked.txt", "content": "clobbered"}))
        assert not new.is_error, text_of(new)
        assert (repo / "notes" / "new.md").read_text() == "hi"
        assert tracked.is_error
        assert "workspace.write_tracked" in text_of(tracked)
        assert (repo / "tracked.txt").read_text() == "original\n"
    finally:
        srv.stop()


def test_development_session_overwrites_tracked_file(dev, repo):
    res = call(dev, "write_file", {"path": "tracked.txt", "content": "updated\n"})
    assert not res.is_error, text_of(res)
    assert (repo / "tracked.txt").read_text() == "updated\n"


def test_untracked_existing_file_needs_only_ephemeral(repo):
    (repo / "scratch.txt").write_text("x")
    srv = start_server(repo, capabilities=COMMIT_DRAIN, drain="commit")
    try:
        assert not call(srv, "write_file", {"path": "scratch.txt", "content": "y"}).is_error
    finally:
        srv.stop()


def test_edit_with_one_missing_old_text_changes_nothing(dev, repo):
    before = (repo / "tracked.txt").read_bytes()
    res = call(dev, "edit_file", {"path": "tracked.txt", "edits": [{"oldText": "original", "newText": "x"}, {"oldText": "not there", "newText": "y"}]})
    assert res.is_error
    assert "edit 1" in text_of(res)
    assert (repo / "tracked.txt").read_bytes() == before


def test_an_edit_without_new_text_deletes_the_old_text(dev, repo):
    (repo / "del.txt").write_text("keep drop keep\n")
    res = call(dev, "edit_file", {"path": "del.txt", "edits": [{"oldText": "drop "}]})
    assert not res.is_error, text_of(res)
    assert (repo / "del.txt").read_text() == "keep keep\n"


def test_successful_edit_returns_a_correct_diff(dev, repo):
    res = call(dev, "edit_file", {"path": "tracked.txt", "edits": [{"oldText": "original", "newText": "edited"}]})
    assert not res.is_error, text_of(res)
    out = json.loads(text_of(res))
    assert "-original" in out["diff"] and "+edited" in out["diff"]
    assert (repo / "tracked.txt").read_text() == "edited\n"
    # The same diff git sees.
    assert "+edited" in git(repo, "diff")


def test_dry_run_and_hash_precondition(dev, repo):
    res = json.loads(text_of(call(dev, "edit_file", {"path": "tracked.txt", "dry_run": True, "edits": [{"oldText": "original", "newText": "dry"}]})))
    assert res["status"] == "dry_run" and "+dry" in res["diff"]
    assert (repo / "tracked.txt").read_text() == "original\n"
    res = call(dev, "edit_file", {"path": "tracked.txt", "expected_content_hash": "0" * 64, "edits": [{"oldText": "original", "newText": "x"}]})
    assert res.is_error and (repo / "tracked.txt").read_text() == "original\n"


def test_crlf_file_keeps_crlf_after_edit(dev, repo):
    res = call(dev, "edit_file", {"path": "crlf.txt", "edits": [{"oldText": "one\ntwo", "newText": "uno\ndos"}]})
    assert not res.is_error, text_of(res)
    assert (repo / "crlf.txt").read_bytes() == b"uno\r\ndos\r\nthree\r\n"


def test_file_mode_is_preserved(dev, repo):
    assert not call(dev, "edit_file", {"path": "run.sh", "edits": [{"oldText": "hi", "newText": "hello"}]}).is_error
    assert stat.S_IMODE((repo / "run.sh").stat().st_mode) == 0o755
    assert not call(dev, "write_file", {"path": "run.sh", "content": "#!/bin/sh\n"}).is_error
    assert stat.S_IMODE((repo / "run.sh").stat().st_mode) == 0o755


@pytest.mark.parametrize("target", ["link-to-secret", "link-to-outside/secret.txt", "link-to-outside/new.txt", "../outside/new.txt"])
def test_writes_through_symlinks_outside_are_refused(dev, repo, target):
    outside = repo.parent / "outside"
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    for tool, args in [
        ("write_file", {"path": target, "content": "pwned"}),
        ("append_file", {"path": target, "content": "pwned"}),
        ("edit_file", {"path": target, "edits": [{"oldText": "TOP", "newText": "pwned"}]}),
        ("copy_file", {"src": "README.md", "dest": target, "overwrite": True}),
        ("move_file", {"src": "README.md", "dest": target, "overwrite": True}),
    ]:
        res = call(dev, tool, args)
        assert res.is_error, (tool, target)
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    assert (repo / "README.md").exists()


def test_delete_symlink_removes_the_link_not_the_target(dev, repo):
    res = call(dev, "delete_path", {"path": "link-to-secret"})
    assert not res.is_error, text_of(res)
    assert not (repo / "link-to-secret").is_symlink()
    assert (repo.parent / "outside" / "secret.txt").exists()


def test_move_copy_delete_and_overwrite_rules(dev, repo):
    (repo / "a.txt").write_text("A")
    (repo / "b.txt").write_text("B")
    res = call(dev, "move_file", {"src": "a.txt", "dest": "b.txt"})
    assert res.is_error and "overwrite" in text_of(res)
    assert (repo / "a.txt").read_text() == "A" and (repo / "b.txt").read_text() == "B"
    assert not call(dev, "copy_file", {"src": "a.txt", "dest": "c/d.txt"}).is_error
    assert (repo / "c" / "d.txt").read_text() == "A"
    res = call(dev, "copy_file", {"src": "a.txt", "dest": "b.txt"})
    assert res.is_error and (repo / "b.txt").read_text() == "B"
    assert not call(dev, "move_file", {"src": "a.txt", "dest": "b.txt", "overwrite": True}).is_error
    assert (repo / "b.txt").read_text() == "A" and not (repo / "a.txt").exists()
    res = call(dev, "delete_path", {"path": "c"})
    assert res.is_error and "recursive" in text_of(res)
    assert not call(dev, "delete_path", {"path": "c", "recursive": True}).is_error
    assert not (repo / "c").exists()
    assert call(dev, "delete_path", {"path": "."}).is_error
    assert repo.exists()


def test_bad_inputs_get_clear_errors_and_no_temp_files(dev, repo):
    for tool, args, needle in [
        ("write_file", {"path": "src", "content": "x"}, "directory"),
        ("edit_file", {"path": "missing.txt", "edits": [{"oldText": "a", "newText": "b"}]}, "does not exist"),
        ("edit_file", {"path": "tracked.txt", "edits": []}, "edits"),
        ("write_file", {"path": "x.txt"}, "content"),
        ("create_directory", {"path": "README.md"}, "file"),
        ("delete_path", {"path": "nope"}, "does not exist"),
    ]:
        res = call(dev, tool, args)
        assert res.is_error, tool
        assert needle in text_of(res), (tool, text_of(res))
    leftovers = [p for p in repo.rglob(".ralph-mcp-tmp-*")]
    assert leftovers == []


def test_git_diff_shows_the_agents_edit(dev, repo):
    edit, diff, summary, status, log = calls(
        dev,
        ("edit_file", {"path": "tracked.txt", "edits": [{"oldText": "original", "newText": "agent edit"}]}),
        ("git_diff", {}),
        ("git_diff", {"format": "summary"}),
        ("git_status", {"format": "compact"}),
        ("git_log", {"count": 1, "format": "compact"}),
    )
    assert not edit.is_error
    assert "+agent edit" in text_of(diff)
    assert "tracked.txt" in text_of(summary) and "|" in text_of(summary)
    assert " M tracked.txt" in text_of(status)
    assert "init" in text_of(log)
    show = call(dev, "git_show", {"ref": "HEAD", "format": "summary"})
    assert "init" in text_of(show)


@pytest.mark.parametrize("bad", [["--output=/tmp/ralph-mcp-x"], ["-o", "/tmp/ralph-mcp-x"], ["--ext-diff"], ["--textconv"], ["--no-index", "/etc/hostname", "README.md"]])
def test_git_diff_refuses_writing_and_helper_flags(dev, repo, bad, tmp_path):
    target = Path("/tmp/ralph-mcp-x")
    if target.exists():
        target.unlink()
    res = call(dev, "git_diff", {"args": bad})
    assert res.is_error and "refuses" in text_of(res)
    assert not target.exists()


def test_git_show_refuses_option_refs_and_git_errors_are_reported(dev):
    assert call(dev, "git_show", {"ref": "--output=/tmp/x"}).is_error
    res = call(dev, "git_show", {"ref": "no-such-ref"})
    assert res.is_error and "git exited" in text_of(res)
    res = call(dev, "git_status", {"cwd": "../outside"})
    assert res.is_error and "outside" in text_of(res)


def test_git_outside_a_repository_fails_cleanly(workspace):
    srv = start_server(workspace, capabilities=ALL_CAPS)
    try:
        res = call(srv, "git_status", {})
        assert res.is_error and "git" in text_of(res)
        # Outside a repository every file counts as untracked.
        assert not call(srv, "write_file", {"path": "README.md", "content": "x"}).is_error
    finally:
        srv.stop()


def test_parallel_worker_mutations_stay_in_worker_roots(repo):
    art = repo / "artifacts"
    srv = start_server(repo, capabilities=ALL_CAPS, extra_session={"parallel_worker": True, "worker_artifact_dir": str(art)})
    try:
        assert not call(srv, "write_file", {"path": "artifacts/out.txt", "content": "ok"}).is_error
        res = call(srv, "write_file", {"path": "elsewhere.txt", "content": "no"})
        assert res.is_error and not (repo / "elsewhere.txt").exists()
    finally:
        srv.stop()


def test_concurrent_reader_never_sees_a_torn_file(dev, repo):
    a, b = "A" * 200_000, "B" * 200_000
    (repo / "big.txt").write_text(a)
    seen = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            data = (repo / "big.txt").read_text()
            seen.add(data[:1] + data[-1:] + str(len(data)))

    t = threading.Thread(target=reader)
    t.start()

    async def writes():
        async with mcp_session(dev.url) as s:
            for i in range(30):
                res = await s.call_tool("write_file", {"path": "big.txt", "content": b if i % 2 == 0 else a})
                assert not res.is_error

    try:
        anyio.run(writes)
    finally:
        stop.set()
        t.join()
    assert seen <= {"AA200000", "BB200000"}, seen
