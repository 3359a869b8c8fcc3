"""Ralph Workflow 0.9.30's own readers of submitted artifacts, run against a
workspace ralph-mcp wrote into. Runs under tests/.venv-ralph.

  ralph_artifact_check.py contracts WS
      prints [{"drain", "artifact_type", "example"}] for every artifact contract
      in Ralph's artifacts policy, with Ralph's bundled example document.
  ralph_artifact_check.py gate WS RUN_ID SECRET DRAIN
      prints what Ralph's phase gate sees for DRAIN: the on-disk validation
      failure (null when the artifact is accepted), whether the run's receipt is
      present and verifies with SECRET, and the hand-off copy.
  ralph_artifact_check.py hint WS DRAIN
      prints the validation retry hint Ralph would put in DRAIN's next prompt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _policy(ws: Path):
    from ralph.policy.loader import load_policy

    return load_policy(ws / ".agent").artifacts


def contracts(ws: Path) -> None:
    from ralph.mcp.artifacts.format_docs import load_bundled_example

    out = []
    for contract in _policy(ws).artifacts.values():
        example = load_bundled_example(contract.artifact_type)
        if example is not None:
            out.append({"drain": str(contract.drain), "artifact_type": contract.artifact_type, "example": example})
    print(json.dumps(out))


def gate(ws: Path, run_id: str, secret: str, drain: str) -> None:
    from ralph.mcp.artifacts.completion_receipts import artifact_receipt_present
    from ralph.phases.artifacts import validate_artifact_on_disk
    from ralph.phases.required_artifacts import resolve_required_artifact
    from ralph.workspace import FsWorkspace

    required = resolve_required_artifact(_policy(ws), drain=drain)
    assert required is not None, drain
    handoff = ws / required.markdown_path if required.markdown_path else None
    print(
        json.dumps(
            {
                "artifact_type": required.artifact_type,
                "on_disk_error": validate_artifact_on_disk(FsWorkspace(ws), required),
                "receipt_present": artifact_receipt_present(ws, run_id, required.artifact_type, receipt_secret=secret),
                "receipt_rejects_wrong_secret": not artifact_receipt_present(ws, run_id, required.artifact_type, receipt_secret=secret + "x"),
                "handoff": handoff.read_text() if handoff is not None and handoff.exists() else None,
                "artifact": (ws / required.artifact_path).read_text(),
            }
        )
    )


def hint(ws: Path, drain: str) -> None:
    from ralph.phases.required_artifacts import read_validation_retry_hint

    print(json.dumps({"hint": read_validation_retry_hint(ws, drain)}))


if __name__ == "__main__":
    command, ws = sys.argv[1], Path(sys.argv[2])
    if command == "contracts":
        contracts(ws)
    elif command == "hint":
        hint(ws, sys.argv[3])
    else:
        gate(ws, *sys.argv[3:6])
