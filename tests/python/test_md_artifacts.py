"""The markdown-artifact tools end to end: the real binary, the Python MCP SDK,
files on disk, Ralph's receipt database, and Ralph's own readers."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import pytest

from conftest import REPO, start_server
from mcp_client import call, mcp_session, text_of

RALPH_PY = REPO / "tests" / ".venv-ralph" / "bin" / "python"
CHECK = Path(__file__).with_name("ralph_artifact_check.py")
SECRET = "broker-secret-for-tests"
BASE = ["workspace.read", "workspace.metadata_read", "git.status_read", "git.diff_read", "artifact.submit", "artifact.plan_read", "process.exec_bounded", "media.read"]

PLAN = """---
type: plan
---

## Steps

### [S-1] Keep line endings in partial reads

Files:
- modify src/read.rs

Verify: cargo test partial_reads
"""

ISSUES_BAD = """---
type: issues
status: issues_found
---

## Summary

- [SUM-1] Two problems in the parser.

## Issues

- [ISS-1] src/parse.rs high the parser drops CRLF
"""


def result_json(result) -> dict:
    return json.loads(text_of(result))


@pytest.fixture
def srv(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    s = start_server(ws, capabilities=BASE, drain="planning", extra_env={"RALPH_BROKER_SECRET": SECRET})
    yield s
    s.stop()


def receipts(ws: Path) -> list[tuple]:
    with sqlite3.connect(ws / ".agent" / "state.db") as db:
        return db.execute("SELECT run_id, artifact_type, hmac FROM receipts ORDER BY artifact_type").fetchall()


def test_a_valid_submission_lands_where_ralph_reads_it(srv):
    r = call(srv, "ralph_submit_md_artifact", {"artifact_type": "plan", "content": PLAN})
    body = result_json(r)
    assert not r.is_error, body
    assert body["valid"] is True
    assert body["persisted_document"]["step_ids"] == ["S-1"]
    ws = srv.workspace
    assert (ws / ".agent/artifacts/plan.md").read_text() == PLAN
    assert (ws / ".agent/PLAN.md").read_text() == PLAN
    assert (ws / ".agent/artifacts/.plan.draft.md").read_text() == PLAN
    expected = hmac.new(SECRET.encode(), b"run-1\nplan", hashlib.sha256).hexdigest()
    assert receipts(ws) == [("run-1", "plan", expected)]
    # No temp files are left beside the artifacts.
    assert not [p.name for p in (ws / ".agent/artifacts").iterdir() if "tmp" in p.name]


def test_an_invalid_submission_names_line_rule_and_fix_and_stays_a_draft(srv):
    r = call(srv, "ralph_submit_md_artifact", {"artifact_type": "issues", "content": ISSUES_BAD})
    body = result_json(r)
    assert r.is_error
    assert body["valid"] is False and body["status"] == "validation_failed"
    (d,) = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert (d["rule_id"], d["line"], d["section"]) == ("ISSUES002", 12, "Issues")
    assert "path | severity | summary" in d["fix"]
    ws = srv.workspace
    assert not (ws / ".agent/artifacts/issues.md").exists()
    assert not (ws / ".agent/ISSUES.md").exists()
    assert (ws / ".agent/artifacts/.issues.draft.md").read_text() == ISSUES_BAD

    # Repair in place: still missing the remediation sections, so not submitted.
    r = call(srv, "ralph_edit_md_artifact", {"artifact_type": "issues", "edits": [{"oldText": "src/parse.rs high the", "newText": "src/parse.rs | high | the"}]})
    body = result_json(r)
    assert r.is_error and body["submitted"] is False and body["edits_applied"] == 1
    assert {d["rule_id"] for d in body["diagnostics"]} == {"SPEC010"}
    assert "what_came_up_short" in body["diagnostics"][0]["message"]

    r = call(srv, "ralph_edit_md_artifact", {"artifact_type": "issues", "edits": [{"oldText": "the parser drops CRLF\n", "newText": "the parser drops CRLF\n\n## What Came Up Short\n\n- [W-1] CRLF lost\n\n## How To Fix\n\n- [H-1] keep line endings\n"}]})
    body = result_json(r)
    assert not r.is_error, body
    assert body["submitted"] is True and body["valid"] is True
    assert "## How To Fix" in (ws / ".agent/ISSUES.md").read_text()


def test_drafts_stage_get_edit_discard_and_finalize(srv):
    half, rest = PLAN.split("## Steps\n")
    r = call(srv, "ralph_stage_md_artifact", {"artifact_type": "plan", "content": half, "mode": "replace_all"})
    assert result_json(r)["submitted"] is False
    r = call(srv, "ralph_stage_md_artifact", {"artifact_type": "plan", "content": "## Steps\n" + rest})
    body = result_json(r)
    assert body["sections"] == ["Steps"] and body["draft_chars"] == len(PLAN)
    got = result_json(call(srv, "ralph_get_md_draft", {"artifact_type": "plan"}))
    assert got["exists"] is True and got["content"] == PLAN
    assert got["content_hash"] == hashlib.sha256(PLAN.encode()).hexdigest()
    assert not (srv.workspace / ".agent/artifacts/plan.md").exists()

    # A dry run shows the diff and writes nothing.
    preview = result_json(call(srv, "ralph_edit_md_artifact", {"artifact_type": "plan", "dry_run": True, "edits": [{"oldText": "partial reads", "newText": "ranged reads"}]}))
    assert preview["status"] == "preview" and "+### [S-1] Keep line endings in ranged reads" in preview["diff"]
    assert (srv.workspace / ".agent/artifacts/.plan.draft.md").read_text() == PLAN

    r = call(srv, "ralph_finalize_md_artifact", {"artifact_type": "plan"})
    assert not r.is_error and result_json(r)["valid"] is True
    assert (srv.workspace / ".agent/artifacts/plan.md").read_text() == PLAN

    assert result_json(call(srv, "ralph_discard_md_draft", {"artifact_type": "plan"}))["discarded"] is True
    assert result_json(call(srv, "ralph_discard_md_draft", {"artifact_type": "plan"}))["discarded"] is False
    assert result_json(call(srv, "ralph_get_md_draft", {"artifact_type": "plan"}))["exists"] is False
    r = call(srv, "ralph_finalize_md_artifact", {"artifact_type": "plan"})
    assert r.is_error and "no staged draft for 'plan'" in text_of(r)
    # The submitted artifact survives the discard of its draft.
    assert (srv.workspace / ".agent/artifacts/plan.md").read_text() == PLAN


def test_a_stale_draft_is_refused_and_a_missing_edit_changes_nothing(srv):
    call(srv, "ralph_stage_md_artifact", {"artifact_type": "plan", "content": PLAN, "mode": "replace_all"})
    seen = hashlib.sha256(PLAN.encode()).hexdigest()
    call(srv, "ralph_stage_md_artifact", {"artifact_type": "plan", "content": "More prose appended by another writer.\n"})
    r = call(srv, "ralph_edit_md_artifact", {"artifact_type": "plan", "expected_content_hash": seen, "edits": [{"oldText": "S-1", "newText": "S-2"}]})
    body = result_json(r)
    assert r.is_error and body["status"] == "stale_evidence" and body["expected_content_hash"] == seen
    draft = (srv.workspace / ".agent/artifacts/.plan.draft.md").read_text()
    r = call(srv, "ralph_edit_md_artifact", {"artifact_type": "plan", "edits": [{"oldText": "S-1", "newText": "S-9"}, {"oldText": "not in the draft", "newText": "x"}]})
    body = result_json(r)
    assert r.is_error and body["status"] == "no_match" and body["edit_index"] == 1
    assert (srv.workspace / ".agent/artifacts/.plan.draft.md").read_text() == draft


def test_concurrent_submissions_leave_one_whole_artifact(srv):
    docs = [PLAN.replace("partial reads", f"partial reads, variant {n}") for n in range(12)]

    def submit(doc):
        return call(srv, "ralph_submit_md_artifact", {"artifact_type": "plan", "content": doc})

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(submit, docs))
    assert all(not r.is_error for r in results)
    ws = srv.workspace
    final = (ws / ".agent/artifacts/plan.md").read_text()
    assert final in docs
    assert (ws / ".agent/PLAN.md").read_text() == final
    assert len(receipts(ws)) == 1
    assert not [p.name for p in (ws / ".agent").rglob("*") if ".rmcp-tmp" in p.name or p.name.endswith(".tmp")]


def test_a_workspace_declares_its_own_artifact_type(srv):
    types = srv.workspace / ".agent" / "artifact-types"
    types.mkdir(parents=True)
    (types / "release_note.toml").write_text(
        """type = "release_note"
description = "What changed for users."
[frontmatter]
required = ["type", "version"]
[frontmatter.closed.type]
values = ["release_note"]
rule = "REL001"
[sections."Changes"]
require_items = true
allow_body = true
[sections."Breaking"]
required = false
item = { separator = " | ", fields = ["what", "migration"], rule = "REL002", message = "breaking items must use 'what | migration'" }
"""
    )
    (types / "broken.toml").write_text("type = \"broken\"\nsections = 3\n")
    good = "---\ntype: release_note\nversion: 1.2.0\n---\n\n## Changes\n\n- [C-1] Faster reads.\n"
    r = call(srv, "ralph_verify_md_artifact", {"artifact_type": "release_note", "content": good})
    assert not r.is_error, text_of(r)
    bad = "---\ntype: release_notes\n---\n\n## Breaking\n\n- [B-1] removed the v1 API\n"
    body = result_json(call(srv, "ralph_verify_md_artifact", {"artifact_type": "release_note", "content": bad}))
    assert sorted((d["rule_id"], d["line"]) for d in body["diagnostics"]) == [("REL001", 2), ("SPEC002", 1), ("SPEC008", 1)]
    body = result_json(call(srv, "ralph_verify_md_artifact", {"artifact_type": "release_note", "content": good + "\n## Breaking\n\n- [B-1] removed the v1 API\n"}))
    assert [(d["rule_id"], d["line"]) for d in body["diagnostics"]] == [("REL002", 12)]
    r = call(srv, "ralph_submit_md_artifact", {"artifact_type": "release_note", "content": good})
    assert not r.is_error
    assert (srv.workspace / ".agent/artifacts/release_note.md").read_text() == good
    # An unusable declaration is skipped; the type it names is simply unknown.
    r = call(srv, "ralph_verify_md_artifact", {"artifact_type": "broken", "content": good})
    assert r.is_error and "known artifact types:" in text_of(r) and "release_note" in text_of(r)


def test_capabilities_gate_the_tools(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    s = start_server(ws, capabilities=["workspace.read", "artifact.plan_read"], drain="review")
    try:
        async def names():
            async with mcp_session(s.url) as session:
                return {t.name for t in (await session.list_tools()).tools}

        listed = anyio.run(names)
        assert {"ralph_verify_md_artifact", "ralph_get_md_draft"} <= listed
        assert not listed & {"ralph_submit_md_artifact", "ralph_stage_md_artifact", "ralph_edit_md_artifact", "ralph_discard_md_draft", "ralph_finalize_md_artifact"}
        r = call(s, "ralph_submit_md_artifact", {"artifact_type": "plan", "content": PLAN})
        assert r.is_error and "artifact.submit" in text_of(r)
    finally:
        s.stop()


def test_a_parallel_worker_submits_into_its_own_namespace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    ns = tmp_path / "worker-1"
    s = start_server(ws, capabilities=BASE, drain="development", extra_session={"parallel_worker": True, "worker_artifact_dir": str(ns / "artifacts"), "worker_namespace": str(ns)})
    try:
        doc = "---\ntype: development_result\nstatus: completed\n---\n\nDid the work.\n"
        r = call(s, "ralph_submit_md_artifact", {"artifact_type": "development_result", "content": doc})
        assert not r.is_error, text_of(r)
    finally:
        s.stop()
    assert (ns / "artifacts" / "development_result.md").read_text() == doc
    assert (ns / "handoffs" / "DEVELOPMENT_RESULT.md").read_text() == doc
    assert not (ws / ".agent" / "artifacts" / "development_result.md").exists()


def ralph(*args: str, cwd: Path) -> dict | list:
    p = subprocess.run([str(RALPH_PY), str(CHECK), *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def test_ralphs_phase_gate_finds_every_submission_and_its_receipt(tmp_path):
    assert RALPH_PY.exists(), "install ralph-workflow first: scripts/setup-test-deps"
    ws = tmp_path / "ws"
    ws.mkdir()
    contracts = ralph("contracts", str(ws), cwd=tmp_path)
    assert {c["drain"] for c in contracts} >= {"planning", "development", "development_analysis", "planning_analysis", "development_commit", "commit"}
    for c in contracts:
        s = start_server(ws, capabilities=BASE, drain=c["drain"], extra_env={"RALPH_BROKER_SECRET": SECRET})
        try:
            r = call(s, "ralph_submit_md_artifact", {"artifact_type": c["artifact_type"], "content": c["example"]})
            assert not r.is_error, (c["drain"], text_of(r))
        finally:
            s.stop()
        seen = ralph("gate", str(ws), "run-1", SECRET, c["drain"], cwd=tmp_path)
        assert seen["on_disk_error"] is None, (c["drain"], seen["on_disk_error"])
        assert seen["receipt_present"] and seen["receipt_rejects_wrong_secret"], c["drain"]
        assert seen["artifact"] == c["example"]
        if seen["handoff"] is not None or c["artifact_type"] in {"plan", "development_result", "development_analysis_decision", "planning_analysis_decision"}:
            assert seen["handoff"] == c["example"], c["drain"]


def test_rejections_reach_ralphs_retry_prompt_and_a_fix_clears_them(srv, tmp_path):
    for _ in range(2):
        assert call(srv, "ralph_submit_md_artifact", {"artifact_type": "issues", "content": ISSUES_BAD}).is_error
    seen = ralph("hint", str(srv.workspace), "planning", cwd=tmp_path)["hint"]
    assert seen.startswith("VALIDATION FAILURE")
    assert "THIS VALIDATION HAS FAILED 2 TIMES" in seen
    assert "- ISSUES002 at line 12, section Issues: issue items must use 'path | severity | summary'" in seen
    fixed = ISSUES_BAD.replace("status: issues_found", "status: no_issues").replace("src/parse.rs high the", "src/parse.rs | high | the")
    r = call(srv, "ralph_submit_md_artifact", {"artifact_type": "issues", "content": fixed})
    body = result_json(r)
    assert not r.is_error, body
    assert body["validation_recovered"] is True and body["message"] == "VALIDATION RECOVERED"
    assert ralph("hint", str(srv.workspace), "planning", cwd=tmp_path)["hint"] == ""


def test_coordinate_answers_with_ralphs_own_text(tmp_path):
    import re

    ws = tmp_path / "ws"
    ws.mkdir()
    s = start_server(ws, capabilities=["workspace.read", "artifact.plan_write"], drain="planning")
    try:
        args = {"action": "claim", "work_unit_id": "WU-1", "payload": {"files": ["a.rs", "b.rs"], "note": "é"}}
        ours = text_of(call(s, "coordinate", args))
    finally:
        s.stop()
    stamp = int(re.search(r"timestamp=(\d+)", ours).group(1))
    code = ("import json,sys; from ralph.mcp.tools.coordination import format_coordination_text as f; "
            "a=json.loads(sys.argv[1]); print(f(action=a['action'], session_id='test-session', timestamp=int(sys.argv[2]), "
            "work_unit_id=a['work_unit_id'], payload=a['payload']), end='')")
    p = subprocess.run([str(RALPH_PY), "-c", code, json.dumps(args), str(stamp)], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert ours == p.stdout
