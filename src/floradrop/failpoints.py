"""Fail points: named instants where a test's daemon kills itself with SIGKILL.

Some crash windows last microseconds (a job just done, its actions not yet queued; an approved
output linked into the next inbox, not yet unlinked from where the person put it). A test
cannot land a kill from outside in such a window, so the daemon takes it itself: started with
``FLORADROP_FAILPOINT=<name>``, it dies by SIGKILL (nothing flushed, nothing cleaned up: a
real crash) the first time it reaches :func:`reached` with that name. Without the variable,
:func:`reached` is one dictionary look-up.

The names, in the order a file travels: :data:`ACTIONS_QUEUED` and :data:`REVIEW_LINKED`.
"""

from __future__ import annotations

import os
import signal
from typing import Final

ENV: Final = "FLORADROP_FAILPOINT"
# A job is done (or failed) in the journal; its actions are armed but not yet queued to run.
ACTIONS_QUEUED: Final = "actions-queued"
# An approved output (and its sidecar) is linked into the next folder's inbox, and still in
# the approved folder too.
REVIEW_LINKED: Final = "review-linked"


def reached(name: str) -> None:
    """Die here, by SIGKILL, when the environment names this fail point."""
    if os.environ.get(ENV) != name:
        return
    kill = getattr(signal, "SIGKILL", None)
    if kill is None:  # Windows: no SIGKILL; an exit that runs no clean-up is the nearest
        os._exit(137)
    os.kill(os.getpid(), kill)
