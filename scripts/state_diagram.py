#!/usr/bin/env python3
"""Print the job state machine (floradrop.jobs.EDGES) as Mermaid, or write it into
ARCHITECTURE.md (``--write``), between its ```mermaid fences. tests/test_jobs.py checks that
the two agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from floradrop.jobs import mermaid  # noqa: E402


def main() -> int:
    diagram = mermaid()
    if "--write" not in sys.argv[1:]:
        print(diagram, end="")
        return 0
    doc = ROOT / "ARCHITECTURE.md"
    text = doc.read_text(encoding="utf-8")
    new, count = re.subn(
        r"```mermaid\nstateDiagram-v2\n.*?```",
        lambda _m: f"```mermaid\n{diagram}```",
        text,
        flags=re.S,
    )
    if count != 1:
        print(
            f"{doc}: expected one ```mermaid stateDiagram-v2 block, found {count}", file=sys.stderr
        )
        return 1
    doc.write_text(new, encoding="utf-8")
    print(f"wrote the state diagram into {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
