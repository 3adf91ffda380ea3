#!/usr/bin/env python3
"""Set up .venv if needed, then run ruff, mypy (strict on src/) and the whole test suite.

    python3 scripts/test.py                  # everything
    python3 scripts/test.py tests/unit -x    # arguments go to pytest (lint still runs)
    python3 scripts/test.py --no-lint ...    # skip ruff and mypy

Set FLORADROP_EXTRAS=tray to install the Linux tray extra (PyGObject; see the README for the
system packages it needs); .ci/run does.
"""

from __future__ import annotations

import os
import subprocess
import sys

from _venv import ROOT, ensure_venv, venv_bin


def main() -> int:
    args = sys.argv[1:]
    lint = "--no-lint" not in args
    args = [a for a in args if a != "--no-lint"]
    extras = ["dev", *filter(None, os.environ.get("FLORADROP_EXTRAS", "").split(","))]
    python = ensure_venv(extras=extras)
    if lint:
        steps = [
            [str(venv_bin("ruff")), "check", "src", "tests", "scripts"],
            [str(venv_bin("ruff")), "format", "--check", "src", "tests", "scripts"],
            [str(venv_bin("mypy"))],
        ]
        for step in steps:
            print(
                "$",
                " ".join(os.path.basename(step[0]) if i == 0 else s for i, s in enumerate(step)),
                flush=True,
            )
            code = subprocess.call(step, cwd=ROOT)
            if code:
                return code
    return subprocess.call([str(python), "-m", "pytest", *args], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
