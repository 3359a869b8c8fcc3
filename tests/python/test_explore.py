"""The explore index (`ralph_index_status`, `ralph_reindex`, `ralph_graph`) on the real
binary: what it indexes and skips, its graph answers, freshness after edits, deadlines
that keep their work, persistence across a restart, confinement, and argument errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ALL_CAPS, start_server
from mcp_client import call, text_of


def j(result) -> dict:
    assert not result.is_error, text_of(result)
    return json.loads(text_of(result))


def make_project(ws: Path, outside: Path) -> None:
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / ".gitignore").write_text("build/\n")
    (ws / "pkg").mkdir()
    (ws / "pkg" / "__init__.py").write_text("")
    (ws / "pkg" / "store.py").write_text(
        "class Base:\n    pass\n\n\nclass Store(Base):\n    def get(self, key):\n        return normalize(key)\n\n\n"
        "def normalize(key):\n    return key.lower()\n"
    )
    (ws / "pkg" / "api.py").write_text("from .store import Store\n\n\ndef handler(key):\n    return Store().get(key)\n")
    (ws / "tests").mkdir()
    (ws / "tests" / "test_store.py").write_text(
        "from pkg.store import Store\n\n\ndef test_get():\n    assert Store().get('A') == 'a'\n"
    )
    (ws / "docs").mkdir()
    (ws / "docs" / "guide.md").write_text("# Guide\n\nStart at [the api](../pkg/api.py).\n\n## Details\n")
    (ws / "build").mkdir()
    (ws / "build" / "generated.py").write_text("def ignored():\n    pass\n")
    (outside / "leak.py").write_text("def outside_secret():\n    pass\n")
    (ws / "linked.py").symlink_to(outside / "leak.py")
    (ws / "linked_dir").symlink_to(outside)
    os.mkfifo(ws / "pipe.py")


@pytest.fixture
def project(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    make_project(ws, outside)
    srv = start_server(ws, capabilities=ALL_CAPS)
    yield srv
    srv.stop()


def ids(items) -> list[str]:
    return [n["id"] for n in items]


def test_status_before_any_index_reports_cold_and_writes_nothing(project):
    status = j(call(project, "ralph_index_status"))
    assert status["enabled"] is True
    assert status["index_exists"] is False
    assert status["generation"] == 0
    assert status["cold_index_required"] is True
    assert status["health"] == "unhealthy"
    assert status["fallback_reason"] == "no_committed_generation"
    assert not (project.workspace / ".agent" / "ralph-explore").exists()


def test_reindex_indexes_python_and_markdown_inside_the_workspace_only(project):
    job = j(call(project, "ralph_reindex", {"mode": "changed"}))
    assert job["job_status"] == "succeeded", job
    assert job["generation"] == 1
    assert job["changed_files"] == [
        "docs/guide.md",
        "pkg/__init__.py",
        "pkg/api.py",
        "pkg/store.py",
        "tests/test_store.py",
    ]
    assert job["failed_files"] == []
    status = j(call(project, "ralph_index_status"))
    assert status["index_exists"] is True
    assert status["files_indexed"] == 5
    assert status["languages"] == {"markdown": 1, "python": 4}
    assert status["health"] == "healthy"
    assert status["is_stale"] is False
    assert status["index_storage_bytes"] > 0
    # Nothing of the outside directory, the ignored build dir, or the FIFO anywhere.
    hubs = j(call(project, "ralph_graph", {"query_type": "hubs", "limit": 100}))
    text = json.dumps(hubs)
    for absent in ("outside_secret", "leak.py", "generated.py", "pipe.py", "linked"):
        assert absent not in text
    # An unchanged workspace commits no new generation.
    again = j(call(project, "ralph_reindex", {"mode": "changed"}))
    assert again["job_status"] == "succeeded" and again["generation"] == 1 and again["parse_count"] == 0
    full = j(call(project, "ralph_reindex", {"mode": "full"}))
    assert full["generation"] == 2 and full["parse_count"] == 5


def test_graph_answers_neighbors_impact_tests_path_and_hubs(project):
    callers = j(call(project, "ralph_graph", {"query_type": "neighbors", "target": "normalize", "direction": "in", "relations": ["calls_syntax"]}))
    assert ids(callers["nodes"]) == ["sym:pkg/store.py#Store.get"]
    assert callers["edges"][0]["relation"] == "calls_syntax"
    assert callers["edges"][0]["evidence_id"] == "calls_syntax:pkg/store.py:7"
    assert callers["index_generation"] == 1 and callers["is_stale"] is False

    impact = j(call(project, "ralph_graph", {"query_type": "impact", "target": "pkg.store.Store.get", "change_kind": "signature"}))
    assert "pkg/api.py" in impact["impacted_files"]
    assert "sym:tests/test_store.py#test_get" in ids(impact["suggested_tests"])

    tests = j(call(project, "ralph_graph", {"query_type": "tests", "target": "pkg/store.py"}))
    assert {"file:tests/test_store.py", "sym:tests/test_store.py#test_get"} <= set(ids(tests["suggested_tests"]))

    path = j(call(project, "ralph_graph", {"query_type": "path", "target": "docs/guide.md", "target_b": "normalize", "depth": 6}))
    assert path["paths"][0][0] == "file:docs/guide.md" and path["paths"][0][-1] == "sym:pkg/store.py#normalize"

    hubs = j(call(project, "ralph_graph", {"query_type": "hubs", "limit": 1}))
    assert ids(hubs["nodes"]) == ["sym:pkg/store.py#Store"] and hubs["truncated"] is True

    unknown = j(call(project, "ralph_graph", {"query_type": "neighbors", "target": "NoSuchThing"}))
    assert unknown["missing_data"] == ["target_not_found"] and unknown["nodes"] == []


def test_graph_refreshes_after_an_edit_unless_stale_is_allowed(project):
    j(call(project, "ralph_reindex", {"mode": "changed"}))
    (project.workspace / "pkg" / "extra.py").write_text("from pkg.store import normalize\n\n\ndef shout(x):\n    return normalize(x).upper()\n")
    status = j(call(project, "ralph_index_status"))
    assert status["is_stale"] is True and status["stale_paths"] == ["pkg/extra.py"] and status["health"] == "stale"
    stale = j(call(project, "ralph_graph", {"query_type": "neighbors", "target": "normalize", "direction": "in", "freshness": "allow_stale"}))
    assert stale["is_stale"] is True and "index_stale" in stale["missing_data"]
    assert "sym:pkg/extra.py#shout" not in ids(stale["nodes"])
    fresh = j(call(project, "ralph_graph", {"query_type": "neighbors", "target": "normalize", "direction": "in"}))
    assert fresh["is_stale"] is False and fresh["index_generation"] == 2
    assert "sym:pkg/extra.py#shout" in ids(fresh["nodes"])
    (project.workspace / "pkg" / "extra.py").unlink()
    gone = j(call(project, "ralph_reindex", {"mode": "changed"}))
    assert gone["changed_files"] == ["pkg/extra.py"] and gone["generation"] == 3


def test_a_scoped_reindex_looks_only_beneath_its_paths(project):
    j(call(project, "ralph_reindex", {"mode": "changed"}))
    ws = project.workspace
    (ws / "pkg" / "api.py").write_text("from .store import Store\n\n\ndef handler(key):\n    return Store().get(key)\n\n\ndef added():\n    pass\n")
    (ws / "docs" / "guide.md").write_text("# Guide\n\n## Renamed\n")
    scoped = j(call(project, "ralph_reindex", {"mode": "changed", "path_scope": ["pkg"]}))
    assert scoped["changed_files"] == ["pkg/api.py"] and scoped["generation"] == 2
    status = j(call(project, "ralph_index_status"))
    assert status["stale_paths"] == ["docs/guide.md"] and status["files_indexed"] == 5
    # Written absolute: the same file.
    single = j(call(project, "ralph_reindex", {"mode": "changed", "path_scope": [str(ws / "docs" / "guide.md")]}))
    assert single["changed_files"] == ["docs/guide.md"] and single["generation"] == 3
    assert j(call(project, "ralph_index_status"))["is_stale"] is False


def test_the_index_survives_a_restart(project):
    j(call(project, "ralph_reindex", {"mode": "changed"}))
    ws = project.workspace
    project.stop()
    again = start_server(ws, capabilities=ALL_CAPS)
    try:
        status = j(call(again, "ralph_index_status"))
        assert status["generation"] == 1 and status["files_indexed"] == 5
        assert status["last_refresh_kind"] == "loaded" and status["health"] == "healthy"
        answer = j(call(again, "ralph_graph", {"query_type": "tests", "target": "Store", "freshness": "allow_stale"}))
        assert answer["is_stale"] is False and answer["suggested_tests"]
    finally:
        again.stop()


def test_a_job_out_of_time_commits_nothing_and_the_next_one_continues(tmp_path):
    ws = tmp_path / "big"
    (ws / "mods").mkdir(parents=True)
    count = 1500
    for i in range(count):
        prev = max(i - 1, 0)
        (ws / "mods" / f"m{i}.py").write_text(f"from mods.m{prev} import f{prev}\n\n\ndef f{i}():\n    return f{prev}()\n" * 20)
    srv = start_server(ws, capabilities=ALL_CAPS)
    try:
        cold = j(call(srv, "ralph_graph", {"query_type": "hubs", "timeout_ms": 1}))
        assert cold["deadline_exceeded"] is True and cold["missing_data"] == ["cold_index_required"]
        # Ever larger budgets until one job finishes: the jobs before it run out of
        # time, commit nothing, and leave what they parsed to the next.
        jobs = []
        timeout = 1
        while not jobs or jobs[-1]["job_status"] != "succeeded":
            jobs.append(j(call(srv, "ralph_reindex", {"mode": "changed", "timeout_ms": min(int(timeout), 60000)})))
            timeout *= 1.3
        *stopped, done = jobs
        assert stopped and all(s["job_status"] == "deadline_exceeded" and s["generation"] == 0 for s in stopped)
        assert all("generation 0 stays committed" in s["error_summary"] for s in stopped), stopped
        parsing = [s for s in stopped if s["parse_count"] > 0]
        assert parsing and "continues where this stopped" in parsing[0]["error_summary"], stopped
        assert done["generation"] == 1 and len(done["changed_files"]) == count
        # No file was parsed twice (the cold graph query's job may have parsed some too).
        assert sum(s["parse_count"] for s in jobs) <= count
    finally:
        srv.stop()


def test_cancel_keeps_the_committed_generation(project):
    j(call(project, "ralph_reindex", {"mode": "changed"}))
    cancelled = j(call(project, "ralph_reindex", {"mode": "full", "cancel": True}))
    assert cancelled["cancelled"] is True and cancelled["generation"] == 1
    graph = j(call(project, "ralph_graph", {"query_type": "hubs", "cancel": True}))
    assert graph["cancelled"] is True and graph["missing_data"] == ["cancelled"]
    assert j(call(project, "ralph_index_status"))["generation"] == 1


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        ("ralph_reindex", {"mode": "sometimes"}, "field `mode`"),
        ("ralph_reindex", {"mode": "changed", "timeout_ms": 0}, "field `timeout_ms`: 0 is outside 1..=60000"),
        ("ralph_reindex", {"mode": "changed", "path_scope": ["../outside"]}, "outside"),
        ("ralph_graph", {"query_type": "neighbors"}, "field `target`: required"),
        ("ralph_graph", {"query_type": "path", "target": "a"}, "field `target_b`"),
        ("ralph_graph", {"query_type": "shape", "target": "a"}, "field `query_type`"),
        ("ralph_graph", {"query_type": "hubs", "relations": ["likes"]}, "field `relations`: `likes`"),
        ("ralph_graph", {"query_type": "neighbors", "target": "a", "depth": 5}, "field `depth`: 5 is outside 1..=3"),
        ("ralph_graph", {"query_type": "hubs", "timeout_ms": 30001}, "field `timeout_ms`"),
    ],
)
def test_bad_arguments_name_the_field(project, tool, args, says):
    result = call(project, tool, args)
    assert result.is_error
    assert says in text_of(result), text_of(result)


def test_a_session_without_workspace_read_gets_only_the_status(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    srv = start_server(ws, capabilities=["workspace.metadata_read"], drain="analysis")
    try:
        refused = call(srv, "ralph_reindex", {"mode": "changed"})
        assert refused.is_error and "workspace.read" in text_of(refused)
        assert j(call(srv, "ralph_index_status"))["enabled"] is True
    finally:
        srv.stop()


def test_a_rust_crate_is_indexed_with_its_modules_impls_and_tests(tmp_path):
    ws = tmp_path / "crate"
    (ws / "src").mkdir(parents=True)
    (ws / "tests").mkdir()
    (ws / "src" / "lib.rs").write_text("pub mod store;\npub mod api;\n")
    (ws / "src" / "store.rs").write_text(
        "pub trait Keyed { fn key(&self) -> u8; }\n"
        "pub struct Store;\n"
        "impl Keyed for Store { fn key(&self) -> u8 { normalize(1) } }\n"
        "impl Store { pub fn new() -> Self { Store } }\n"
        "pub fn normalize(x: u8) -> u8 { x }\n"
        "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn keys() { assert_eq!(Store::new().key(), 1); }\n}\n"
    )
    (ws / "src" / "api.rs").write_text("use crate::store::{Keyed, Store};\n\npub fn handler() -> u8 {\n    Store::new().key()\n}\n")
    (ws / "tests" / "it.rs").write_text("use mycrate::store::normalize;\n\n#[test]\nfn normalizes() {\n    assert_eq!(normalize(2), 2);\n}\n")
    srv = start_server(ws, capabilities=ALL_CAPS)
    try:
        job = j(call(srv, "ralph_reindex", {"mode": "full"}))
        assert job["job_status"] == "succeeded" and job["failed_files"] == []
        assert j(call(srv, "ralph_index_status"))["languages"] == {"rust": 4}
        callers = j(call(srv, "ralph_graph", {"query_type": "neighbors", "target": "Store.new", "direction": "in", "relations": ["calls_syntax"]}))
        assert set(ids(callers["nodes"])) == {"sym:src/api.rs#handler", "sym:src/store.rs#tests.keys"}
        derived = j(call(srv, "ralph_graph", {"query_type": "neighbors", "target": "Store", "direction": "out", "relations": ["inherits_syntax", "contains"]}))
        assert set(ids(derived["nodes"])) == {"sym:src/store.rs#Keyed", "sym:src/store.rs#Store.key", "sym:src/store.rs#Store.new"}
        tests = j(call(srv, "ralph_graph", {"query_type": "tests", "target": "src/store.rs"}))
        assert {"sym:src/store.rs#tests.keys", "sym:tests/it.rs#normalizes"} <= set(ids(tests["suggested_tests"]))
        imports = j(call(srv, "ralph_graph", {"query_type": "neighbors", "target": "src/lib.rs", "direction": "out", "relations": ["imports"]}))
        assert set(ids(imports["nodes"])) == {"file:src/store.rs", "file:src/api.rs"}
    finally:
        srv.stop()


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        # Well formed, but its indices point nowhere: a graph built from it would index out of range.
        json.dumps({"version": 2, "generation": 7, "indexed_at": 0.0, "files": {"a.py": {"size": 1, "mtime_ns": 1, "lang": "python", "facts": {
            "symbols": [{"qualname": "f", "kind": "function", "line": 1, "end_line": 1, "parent": 5}],
            "refs": [{"Call": {"from": 99, "callee": "g", "line": 1}}], "syntax_errors": False}}}}),
    ],
)
def test_a_forged_index_file_is_rebuilt_not_trusted(project, content):
    index = project.workspace / ".agent" / "ralph-explore" / "ralph-mcp-index.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(content)
    status = j(call(project, "ralph_index_status"))
    assert status["index_exists"] is False and status["generation"] == 0
    answer = j(call(project, "ralph_graph", {"query_type": "tests", "target": "pkg/store.py"}))
    assert answer["index_generation"] == 1 and answer["suggested_tests"]
    assert json.loads(index.read_text())["generation"] == 1
