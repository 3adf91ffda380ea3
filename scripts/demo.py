#!/usr/bin/env python3
"""Quick start: set up .venv if needed and run ``floradrop demo`` (arguments pass through).

python3 scripts/demo.py          # watch the whole loop, Ctrl-C to stop
python3 scripts/demo.py --once   # process the samples and exit
"""

from __future__ import annotations

import subprocess
import sys

from _venv import ROOT, ensure_venv


def main() -> int:
    python = ensure_venv(extras=[])
    try:
        return subprocess.call([str(python), "-m", "floradrop", "demo", *sys.argv[1:]], cwd=ROOT)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
