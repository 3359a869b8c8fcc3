"""Ralph Workflow's own markdown-artifact validator, as an oracle.

Runs under the ralph-workflow venv (tests/.venv-ralph, ralph-workflow==0.9.30):

  artifact_oracle.py seeds   prints {"type", "content", "origin"} lines: Ralph's
                             bundled example of every artifact type and every
                             ```markdown block of its format documents.
  artifact_oracle.py judge   reads {"type", "content"} lines on stdin and prints
                             {"valid", "diagnostics": [{"rule_id", "line"}]} per line,
                             from Ralph's parse_and_validate.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import re
import sys


def seeds() -> None:
    from ralph.mcp.artifacts.format_docs import FORMAT_DOC_ARTIFACT_TYPES, load_bundled_example

    docs = importlib.resources.files("ralph.mcp.artifacts.format_docs")
    for kind in FORMAT_DOC_ARTIFACT_TYPES:
        print(json.dumps({"type": kind, "content": load_bundled_example(kind), "origin": f"examples/{kind}.md"}))
        text = docs.joinpath(f"{kind}.md").read_text(encoding="utf-8")
        for n, block in enumerate(re.findall(r"```markdown\n(.*?)```", text, re.S)):
            print(json.dumps({"type": kind, "content": block, "origin": f"{kind}.md block {n + 1}"}))


def judge() -> None:
    importlib.import_module("ralph.mcp.artifacts.markdown.specs")
    from ralph.mcp.artifacts.markdown import parse_and_validate
    from ralph.mcp.artifacts.markdown.registry import get_spec

    for line in sys.stdin:
        case = json.loads(line)
        _, diagnostics = parse_and_validate(case["content"], get_spec(case["type"]))
        print(
            json.dumps(
                {
                    "valid": not any(d.severity == "error" for d in diagnostics),
                    "diagnostics": [{"rule_id": d.rule_id, "line": d.line} for d in diagnostics],
                }
            )
        )


if __name__ == "__main__":
    {"seeds": seeds, "judge": judge}[sys.argv[1]]()
