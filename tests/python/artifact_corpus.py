"""Mutations of valid markdown artifacts, for the differential test against
Ralph's validator: every structural rule gets a document that breaks it."""

from __future__ import annotations

import re

_HEADING = re.compile(r"^## ")
_ITEM = re.compile(r"^- (?:\[[ xX]\] )?\[([A-Za-z][A-Za-z0-9_-]*)\] (.*)$")


def _split(text: str) -> tuple[list[str], list[tuple[int, int]], list[str]]:
    """Lines, the (start, end) line span of each `## ` section, and the frontmatter lines."""
    lines = text.split("\n")
    spans = []
    starts = [i for i, line in enumerate(lines) if _HEADING.match(line)]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        spans.append((start, end))
    front = []
    if lines and lines[0] == "---":
        for line in lines[1:]:
            if line == "---":
                break
            front.append(line)
    return lines, spans, front


def _join(lines: list[str]) -> str:
    return "\n".join(lines)


def mutations(text: str) -> list[tuple[str, str]]:
    """(name, mutated text) pairs for one valid document."""
    out: list[tuple[str, str]] = [("original", text)]
    lines, spans, front = _split(text)
    close = len(front) + 1 if lines and lines[0] == "---" else None

    # Frontmatter.
    if close is not None:
        out.append(("no frontmatter", _join(lines[close + 1 :])))
        out.append(("unterminated frontmatter", _join(lines[:close] + lines[close + 1 :])))
        out.append(("frontmatter bad line", _join(lines[:close] + ["not a field"] + lines[close:])))
        out.append(("frontmatter unknown field", _join(lines[:close] + ["zz_unknown: 1"] + lines[close:])))
        for i, field in enumerate(front, start=1):
            key = field.split(":", 1)[0]
            out.append((f"drop field {key}", _join(lines[:i] + lines[i + 1 :])))
            out.append((f"bogus {key}", _join(lines[:i] + [f"{key}: bogus_value"] + lines[i + 1 :])))
            out.append((f"duplicate {key}", _join(lines[: i + 1] + [field] + lines[i + 1 :])))
            out.append((f"indented {key}", _join(lines[:i] + [" " + field] + lines[i + 1 :])))
            out.append((f"empty {key}", _join(lines[:i] + [f"{key}:"] + lines[i + 1 :])))

    # Sections.
    for start, end in spans:
        name = lines[start][3:]
        body = lines[start:end]
        out.append((f"drop section {name}", _join(lines[:start] + lines[end:])))
        out.append((f"duplicate section {name}", _join(lines[:end] + body + lines[end:])))
        items = [i for i in range(start + 1, end) if _ITEM.match(lines[i])]
        out.append((f"empty section {name}", _join(lines[: start + 1] + lines[end:])))
        out.append((f"prose in {name}", _join(lines[: start + 1] + ["Some free prose here."] + lines[start + 1 :])))
        out.append((f"block in {name}", _join(lines[: start + 1] + ["### [B-1] A block", "block body"] + lines[start + 1 :])))
        out.append((f"h1 in {name}", _join(lines[: start + 1] + ["# Stray heading"] + lines[start + 1 :])))
        if items:
            i = items[0]
            m = _ITEM.match(lines[i])
            ident, rest = m.group(1), m.group(2)
            out.append((f"bare item in {name}", _join(lines[:i] + [f"- {rest}"] + lines[i + 1 :])))
            out.append((f"checkbox item in {name}", _join(lines[:i] + [f"- [x] [{ident}] {rest}"] + lines[i + 1 :])))
            out.append((f"duplicate item in {name}", _join(lines[: i + 1] + [lines[i]] + lines[i + 1 :])))
            out.append((f"extra item in {name}", _join(lines[: i + 1] + [f"- [{ident}-X] another entry"] + lines[i + 1 :])))
            out.append((f"continuation in {name}", _join(lines[: i + 1] + ["  Note: more"] + lines[i + 1 :])))
            out.append((f"drop items in {name}", _join([line for n, line in enumerate(lines) if n not in items])))
            if " | " in rest:
                out.append((f"no pipes in {name}", _join(lines[:i] + [f"- [{ident}] {rest.replace(' | ', ' / ')}"] + lines[i + 1 :])))
                parts = rest.split(" | ")
                for k in range(len(parts)):
                    emptied = parts[:k] + [""] + parts[k + 1 :]
                    out.append((f"empty part {k} in {name}", _join(lines[:i] + [f"- [{ident}] {' | '.join(emptied)}"] + lines[i + 1 :])))
                for k in range(len(parts)):
                    out.append((f"bogus part {k} in {name}", _join(lines[:i] + [f"- [{ident}] {' | '.join(parts[:k] + ['#bogus x'] + parts[k + 1:])}"] + lines[i + 1 :])))
    out.append(("unknown section", text.rstrip("\n") + "\n\n## Extra Notes\n\n- [X-1] a note\n"))
    if spans:
        s = spans[0][0]
        out.append(("prose before sections", _join(lines[:s] + ["Preamble outside any section."] + lines[s:])))
        out.append(("block before sections", _join(lines[:s] + ["### [S-1] Early"] + lines[s:])))

    # Edge-case markdown.
    out.append(("crlf", text.replace("\n", "\r\n")))
    out.append(("cr only", text.replace("\n", "\r")))
    out.append(("no final newline", text.rstrip("\n")))
    out.append(("trailing spaces", "\n".join(line + "  " for line in lines)))
    out.append(("tabs", text.replace("- [", "-\t[")))
    out.append(("line separator", text.replace("\n", "\u2028", 3)))
    out.append(("truncated", _join(lines[: len(lines) // 2])))
    out.append(("empty", ""))
    out.append(("whitespace", "  \n\t\n"))
    out.append(("nul", text.replace("\n", "\n\x00", 1)))
    out.append(("h3 headings", text.replace("\n## ", "\n### ")))
    out.append(("h1 headings", text.replace("\n## ", "\n# ")))
    out.append(("lowercase ids", re.sub(r"\[([A-Z]+)-", lambda m: "[" + m.group(1).lower() + "-", text)))
    out.append(("huge", text + ("\nlorem ipsum dolor sit amet" * 80)))
    return out


def type_specific(kind: str, text: str) -> list[tuple[str, str]]:
    """Mutations aimed at one type's own rules."""
    out: list[tuple[str, str]] = []

    def sub(name: str, pattern: str, repl: str, count: int = 1) -> None:
        new = re.sub(pattern, repl, text, count=count, flags=re.M)
        if new != text:
            out.append((name, new))

    if kind == "commit_message":
        for subject in ["Fix stuff", "Fix: stuff", "fix(Parser): stuff", "fix: A thing", "fix: a", '"fix: quoted"', "wip: stuff", "fix():  x", "feat(api)!: drop the v1 endpoints"]:
            sub(f"subject {subject}", r"^subject: .*$", f"subject: {subject}")
        sub("skip without reason", r"^type: commit$", "type: skip")
        out.append(("skip with reason", "---\ntype: skip\nreason: nothing changed\n---\n"))
        out.append(("body and detail", text.rstrip("\n") + "\n\n## Body\n\n- [B-1] body text\n\n## Body Summary\n\n- [BS-1] summary\n"))
        out.append(("empty files", text.rstrip("\n") + "\n\n## Files\n"))
        out.append(("files", text.rstrip("\n") + "\n\n## Files\n\n- [F-1] src/a.rs\n"))
        out.append(("excluded bad", text.rstrip("\n") + "\n\n## Excluded Files\n\n- [E-1] secrets.env\n"))
        out.append(("excluded reason", text.rstrip("\n") + "\n\n## Excluded Files\n\n- [E-1] secrets.env | because\n"))
        out.append(("excluded ok", text.rstrip("\n") + "\n\n## Excluded Files\n\n- [E-1] secrets.env | sensitive\n"))
    if kind == "commit_cleanup":
        for action in ["delete_file | #x", "rm_file | x", "delete_file x", "add_to_gitignore | *.log", "add_to_git_exclude | tmp/ x", "delete_file | caf\u00e9.txt"]:
            out.append((f"action {action}", text.rstrip("\n") + f"\n- [A-9] {action}\n"))
        sub("analysis yes", r"^analysis_complete: .*$", "analysis_complete: yes")
    if kind == "design_verdict":
        for intent in ["Check the DOM and the CSS", "Look at the source of the header", "the source of truth for spacing", "read the source-code", "Examine different kingdom resources", "inspect class names and inline styles"]:
            sub(f"intent {intent}", r"^(- \[I-1\]) .*$", rf"\1 {intent}")
        sub("pass with blocker", r"\| minor \|", "| blocker |")
        sub("fail without blocker", r"^(- \[V-1\]) pass", r"\1 fail")
        sub("blocked verdict", r"^(- \[V-1\]) pass", r"\1 blocked")
        sub("bogus verdict", r"^(- \[V-1\]) pass", r"\1 maybe")
        sub("verdict no pipe", r"^(- \[V-1\]) pass \|", r"\1 pass -")
        sub("unknown capture", r"cap-001 \|", "cap-999 |")
        sub("bad region", r"0,0,320,40", "0,0,-3,40")
        sub("region words", r"0,0,320,40", "a,b,c,d")
        sub("region spaces", r"0,0,320,40", "0, 0, 320, +40")
        sub("empty severity", r"\| minor \|", "|  |")
        sub("no target", r"^target: .*\n", "")
        sub("empty run id", r"^run_id: .*$", "run_id:")
        sub("no cell ids", r"^cell_ids: .*$", "cell_ids: ,")
        sub("bad handle", r"^(cell_ids: .*)$", r"\1\nbefore_handles: not-a-uri")
        sub("good handle", r"^(cell_ids: .*)$", r"\1\nbefore_handles: ralph://media/12345678-1234-1234-1234-123456789abc")
        sub("tier", r"^type: design_verdict$", "type: design_verdict\njudgement_tier: vibes")
    if kind.endswith("_analysis_decision") and kind != "development_analysis_decision":
        for status in ["completed", "request_changes", "failed"]:
            sub(f"status {status}", r"^status: .*$", f"status: {status}")
        sub("verdict not met", r"Verdict: met", "Verdict: not met")
        sub("verdict not evaluable", r"Verdict: met", "Verdict: not evaluable")
        sub("verdict unknown", r"Verdict: met", "Verdict: mostly")
        sub("no evidence", r"Evidence: [^|]*?(?=Location:)", "Evidence: ")
        sub("no location", r"Location: .*$", "Location: .")
        sub("no cost", r"Cost:", "Price:")
        sub("no criterion", r"Criterion:", "Crit:")
        sub("bad verdict id", r"\[PA-1\]", "[PA-X]")
        sub("bad policy id", r"\[PR-1\]", "[PRX-1]")
        sub("no step", r"Step: \[S-\d+\]", "Stage: one")
        sub("no proposed revision", r"Proposed revision:", "Suggestion:")
        out.append(("with how to fix", text.rstrip("\n") + "\n\n## How To Fix\n\n- [F-1] do it\n"))
        if "## What Came Up Short" in text:
            head, _, tail = text.partition("## What Came Up Short")
            for a, b in [("Verdict: not met", "Verdict: met"), ("Verdict: not met", "Verdict: not evaluable")]:
                if a in tail:
                    out.append((f"shortfall {b}", head + "## What Came Up Short" + tail.replace(a, b, 1)))
    if kind == "plan":
        for body in ["short plan", "I cannot implement this request because it is unsafe.", "TODO: plan goes here and more words to pass the count easily ok", "plan goes here one two three four five six seven eight nine", "\x01\x02\x03\x04\x05\x06\x07\x08 one two three four five six seven eight nine ten", "I'm sorry, I cannot help with that request, so here is a plan: one two three four five"]:
            out.append((f"plan {body[:20]!r}", body))
    if kind == "smoke_test_result":
        sub("failed without breaks", r"^status: .*$", "status: failed")
    if kind == "issues":
        sub("issues found", r"^status: .*$", "status: issues_found")
        sub("no issues", r"^status: .*$", "status: no_issues")
    return out


def shuffled(text: str, seed: int, count: int = 12) -> list[tuple[str, str]]:
    """Random line-level edits (drop, duplicate, swap, indent, truncate), reproducible by seed."""
    import random

    rng = random.Random(seed)
    lines = text.split("\n")
    out = []
    for n in range(count):
        new = list(lines)
        for _ in range(rng.randint(1, 4)):
            if not new:
                break
            i = rng.randrange(len(new))
            op = rng.choice(["drop", "dup", "swap", "indent", "strip", "cut"])
            if op == "drop":
                del new[i]
            elif op == "dup":
                new.insert(i, new[i])
            elif op == "swap":
                j = rng.randrange(len(new))
                new[i], new[j] = new[j], new[i]
            elif op == "indent":
                new[i] = "  " + new[i]
            elif op == "strip":
                new[i] = new[i].lstrip("-# ")
            else:
                new = new[:i]
        out.append((f"random {seed}/{n}", "\n".join(new)))
    return out
