"""Listing and search tools: ignore rules, bounds, and parity with ripgrep."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest

from conftest import ALL_CAPS, REPO, start_server
from mcp_client import mcp_session, text_of


def make_tree(ws: Path) -> None:
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / ".gitignore").write_text("target/\n*.log\n")
    (ws / "target").mkdir()
    (ws / "target" / "built.rs").write_text("needle in ignored dir\n")
    (ws / "app.log").write_text("needle in ignored log\n")
    (ws / ".hidden").mkdir()
    (ws / ".hidden" / "h.txt").write_text("needle hidden\n")
    (ws / "deep" / "er").mkdir(parents=True)
    (ws / "deep" / "er" / "x.py").write_text("a\nneedle = 1\nb\nNEEDLE\nneedles\n")
    (ws / "deep" / "y.md").write_text("no match here\n")


def call(srv, tool, args):
    async def body():
        async with mcp_session(srv.url) as s:
            return await s.call_tool(tool, args)

    return anyio.run(body)


@pytest.fixture
def tree_server(workspace):
    make_tree(workspace)
    srv = start_server(workspace, capabilities=ALL_CAPS)
    yield srv
    srv.stop()


def rg_matches(root: Path, *flags: str) -> set[tuple[str, int]]:
    out = subprocess.run(
        ["rg", "--hidden", "-g", "!.git", "--no-heading", "-n", "--no-config", *flags, str(root)],
        capture_output=True,
        text=True,
        cwd=root,
    )
    found = set()
    for line in out.stdout.splitlines():
        path, lineno, _ = line.split(":", 2)
        found.add((str(Path(path).resolve().relative_to(root.resolve())), int(lineno)))
    return found


def grep_set(srv, **args) -> set[tuple[str, int]]:
    res = call(srv, "grep_files", {"path": ".", **args})
    assert not res.is_error, text_of(res)
    return {(m["path"], m["line"]) for m in json.loads(text_of(res))["matches"]}


@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep is installed by .ci/run")
def test_grep_matches_ripgrep_with_the_same_ignore_rules(tree_server, workspace):
    assert grep_set(tree_server, pattern="needle") == rg_matches(workspace, "needle")
    assert grep_set(tree_server, pattern="needle", case_sensitive=False) == rg_matches(workspace, "-i", "needle")
    assert grep_set(tree_server, pattern="needle", whole_word=True) == rg_matches(workspace, "-w", "needle")
    assert grep_set(tree_server, pattern="ne+dle\\b", regex=True) == rg_matches(workspace, "ne+dle\\b")


@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep is installed by .ci/run")
def test_grep_matches_ripgrep_on_this_repository(tmp_path):
    """A real source tree: a copy of this repository's crates."""
    ws = tmp_path / "repo"
    shutil.copytree(REPO / "crates", ws / "crates")
    srv = start_server(ws, capabilities=ALL_CAPS)
    try:
        for pattern in ["fn ", "ToolError", "unlikely_string_zz"]:
            ours = grep_set(srv, pattern=pattern, regex=False, limit=100000)
            assert ours == rg_matches(ws, "-F", pattern), pattern
    finally:
        srv.stop()


def test_grep_respects_gitignore_and_include_ignored_opts_out(tree_server):
    default = grep_set(tree_server, pattern="needle")
    assert ("target/built.rs", 1) not in default and ("app.log", 1) not in default
    assert (".hidden/h.txt", 1) in default
    everything = grep_set(tree_server, pattern="needle", include_ignored=True)
    assert ("target/built.rs", 1) in everything and ("app.log", 1) in everything


def test_grep_results_are_sorted_bounded_and_flagged(tree_server):
    res = json.loads(text_of(call(tree_server, "grep_files", {"pattern": "needle", "path": ".", "case_sensitive": False, "limit": 2})))
    assert res["truncated"] is True
    assert len(res["matches"]) == 2
    keys = [(m["path"], m["line"]) for m in res["matches"]]
    assert keys == sorted(keys)


def test_grep_context_and_include_exclude(tree_server):
    res = json.loads(text_of(call(tree_server, "grep_files", {"pattern": "needle =", "path": ".", "context_before": 1, "context_after": 1})))
    m = res["matches"][0]
    assert m["before"] == ["a"] and m["after"] == ["b"]
    only_md = grep_set(tree_server, pattern="match", include=["*.md"])
    assert only_md == {("deep/y.md", 1)}
    assert grep_set(tree_server, pattern="match", exclude=["*.md"]) == set()


def test_bad_regex_is_a_clear_error(tree_server):
    res = call(tree_server, "grep_files", {"pattern": "(unclosed", "path": "."})
    assert res.is_error
    assert "pattern" in text_of(res) and "regex" in text_of(res)


def test_search_files_globs(tree_server):
    res = json.loads(text_of(call(tree_server, "search_files", {"pattern": "*.py", "path": "."})))
    assert res["matches"] == ["deep/er/x.py"]
    res = json.loads(text_of(call(tree_server, "search_files", {"pattern": "deep/**/*.py", "path": "."})))
    assert res["matches"] == ["deep/er/x.py"]
    res = json.loads(text_of(call(tree_server, "search_files", {"pattern": "*", "path": ".", "limit": 1})))
    assert res["truncated"] is True and len(res["matches"]) == 1


def test_listings_skip_git_and_ignored_files(tree_server):
    text = text_of(call(tree_server, "list_directory", {"path": "."}))
    assert "[FILE] README.md" in text and "[DIR] deep" in text
    assert ".git" not in text.replace(".gitignore", "") and "app.log" not in text
    rec = text_of(call(tree_server, "list_directory_recursive", {"path": "."}))
    assert "    [FILE] deep/er/x.py" in rec and "target" not in rec
    tree = json.loads(text_of(call(tree_server, "directory_tree", {"path": "deep"})))["tree"]
    assert tree == [
        {"name": "er", "type": "directory", "children": [{"name": "x.py", "type": "file"}]},
        {"name": "y.md", "type": "file"},
    ]


def test_listing_a_file_or_missing_dir_is_a_clear_error(tree_server):
    res = call(tree_server, "list_directory", {"path": "README.md"})
    assert res.is_error and "not a directory" in text_of(res)
    res = call(tree_server, "list_directory", {"path": "nope"})
    assert res.is_error and "does not exist" in text_of(res)


def test_read_file_modes(tree_server, workspace):
    (workspace / "bin.dat").write_bytes(b"ok\xff\xfe")
    res = call(tree_server, "read_file", {"path": "bin.dat"})
    assert res.is_error and "UTF-8" in text_of(res)
    res = json.loads(text_of(call(tree_server, "read_file", {"path": "README.md", "max_bytes": 4})))
    assert res["truncated"] is True and res["content"] == "# De" and res["total_bytes"] > 4
    # Partial reads keep each line's ending: pieces put together are the file (Ralph's shape).
    res = json.loads(text_of(call(tree_server, "read_file", {"path": "README.md", "tail": 1})))
    assert res["content"] == "line three\n" and res["truncated"] is True
    whole = (workspace / "README.md").read_text()
    head = json.loads(text_of(call(tree_server, "read_file", {"path": "README.md", "head": 1})))["content"]
    rest = json.loads(text_of(call(tree_server, "read_file", {"path": "README.md", "line_start": 2})))["content"]
    assert head + rest == whole
    res = call(tree_server, "read_file", {"path": "README.md", "head": 1, "offset": 2})
    assert res.is_error and "mutually exclusive" in text_of(res)
    res = call(tree_server, "read_file", {"path": "README.md", "expected_content_hash": "0" * 64})
    assert res.is_error and "changed" in text_of(res)
    res = call(tree_server, "read_file", {"path": "src"})
    assert res.is_error and "directory" in text_of(res)


def test_read_multiple_and_stat(tree_server):
    res = json.loads(text_of(call(tree_server, "read_multiple_files", {"paths": ["README.md", "missing.txt", "link-to-secret"]})))
    oks = [f["ok"] for f in res["files"]]
    assert oks == [True, False, False]
    assert "TOP-SECRET" not in json.dumps(res)
    # A line range inside `items` gives the lines themselves, not an encoded read_file result.
    res = json.loads(text_of(call(tree_server, "read_multiple_files", {"items": [{"path": "README.md", "line_start": 3, "line_end": 4}]})))
    assert res["files"][0]["content"] == "line two\nline three\n"
    st = json.loads(text_of(call(tree_server, "stat_path", {"path": "README.md"})))
    assert st["type"] == "file" and st["size_bytes"] > 0
    assert json.loads(text_of(call(tree_server, "stat_path", {"path": "nope"})))["type"] == "missing"
    roots = json.loads(text_of(call(tree_server, "list_allowed_roots", {})))
    assert len(roots["allowed_roots"]) == 1


def test_agent_dir_is_searched_but_not_its_scratch(tree_server, workspace):
    # Ralph keeps artifact formats under .agent/, which is git-ignored (its own
    # .gitignore says `*`) only to keep `git status` clean; the agent must find them.
    fmt = workspace / ".agent" / "artifact-formats"
    fmt.mkdir(parents=True, exist_ok=True)
    (fmt / "plan.md").write_text("# Plan format\nneedle-in-agent-dir\n")
    (workspace / ".agent" / "tmp").mkdir(exist_ok=True)
    (workspace / ".agent" / "tmp" / "scratch.md").write_text("needle-in-agent-dir\n")
    found = json.loads(text_of(call(tree_server, "search_files", {"path": ".", "pattern": "*.md"})))["matches"]
    assert ".agent/artifact-formats/plan.md" in found
    assert not [m for m in found if m.startswith(".agent/tmp")]
    hits = json.loads(text_of(call(tree_server, "grep_files", {"path": ".", "pattern": "needle-in-agent-dir"})))["matches"]
    assert [h["path"] for h in hits] == [".agent/artifact-formats/plan.md"]
