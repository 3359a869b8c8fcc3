"""Differential test: ralph-mcp's markdown-artifact validator against Ralph
Workflow 0.9.30's own, on Ralph's examples and format documents and on
mutations of them. Both must agree on every verdict and on every diagnostic
(rule code and line)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

from artifact_corpus import mutations, shuffled, type_specific
from conftest import BINARY, REPO

RALPH_PY = REPO / "tests" / ".venv-ralph" / "bin" / "python"
ORACLE = REPO / "tests" / "python" / "artifact_oracle.py"


def _oracle(mode: str, cases: list[dict] | None = None, cwd=None) -> list[dict]:
    stdin = "".join(json.dumps({"type": c["type"], "content": c["content"]}) + "\n" for c in cases or [])
    p = subprocess.run([str(RALPH_PY), str(ORACLE), mode], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads(line) for line in p.stdout.splitlines()]


def _ours(cases: list[dict]) -> list[dict]:
    stdin = "".join(json.dumps({"type": c["type"], "content": c["content"]}) + "\n" for c in cases)
    p = subprocess.run([str(BINARY), "artifact", "check", "--jsonl"], input=stdin, capture_output=True, text=True, timeout=300)
    assert p.returncode in (0, 1), p.stderr[-3000:]
    return [json.loads(line) for line in p.stdout.splitlines()]


def _corpus(tmp_path) -> list[dict]:
    seeds = _oracle("seeds", cwd=tmp_path)
    cases = []
    for n, seed in enumerate(seeds):
        generated = mutations(seed["content"]) + type_specific(seed["type"], seed["content"]) + shuffled(seed["content"], n)
        for name, text in generated:
            cases.append({"type": seed["type"], "content": text, "name": f"{seed['origin']}: {name}"})
    return cases


def _key(result: dict) -> tuple:
    return (result["valid"], sorted((d["rule_id"], d["line"]) for d in result["diagnostics"]))


def test_ralph_and_ralph_mcp_agree_on_every_verdict_and_diagnostic(tmp_path):
    cases = _corpus(tmp_path)
    theirs = _oracle("judge", cases, cwd=tmp_path)
    ours = _ours(cases)
    assert len(theirs) == len(ours) == len(cases)
    mismatches = [
        f"{c['type']} / {c['name']}:\n  ralph:     {_key(t)}\n  ralph-mcp: {_key(o)}"
        for c, t, o in zip(cases, theirs, ours)
        if _key(t) != _key(o)
    ]
    assert not mismatches, f"{len(mismatches)} of {len(cases)} disagree:\n" + "\n".join(mismatches[:40])
    # The corpus exercises every artifact type, valid and invalid, and many rules.
    verdicts = Counter((c["type"], t["valid"]) for c, t in zip(cases, theirs))
    kinds = {c["type"] for c in cases}
    assert len(kinds) == 14
    for kind in kinds:
        assert verdicts[(kind, True)] and verdicts[(kind, False)], kind
    rules = {d["rule_id"] for t in theirs for d in t["diagnostics"]}
    assert len(rules) >= 40, sorted(rules)
