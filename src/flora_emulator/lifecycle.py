"""A run's status at a given time: ``pending -> running -> completed | failed``.

Time comes from the emulator's clock, so tests can move it. A run

* is ``pending`` for the first tenth of ``run_seconds`` (or, with ``run_seconds == 0``, until
  a worker picks its job up),
* is ``running`` after that, with ``progress`` growing with elapsed time (capped at 99),
* ends once **both** ``run_seconds`` have passed **and** its work has finished. The terminal
  view is frozen the first time it is computed, so timestamps never move afterwards.

Timestamps in the API are epoch milliseconds (integers); ``progress`` is 0-100.
Failed runs report ``progress: 100`` (as FLORA does) and ``charged_cost: 0``: FLORA generally
does not charge failed runs. Completed runs report ``charged_cost == run_cost``. While a
run is pending or running, ``charged_cost`` is absent.
"""

from __future__ import annotations

from typing import Any

from flora_emulator.state import Run

PENDING_FRACTION = 0.1


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def run_view(run: Run, now: float) -> dict[str, Any]:
    """The run's fields in the spec's Run object shape, without ``poll_url``."""
    if run.terminal is not None:
        return dict(run.terminal)
    elapsed = now - run.created_at
    pending_for = run.run_seconds * PENDING_FRACTION
    view: dict[str, Any] = {"run_id": run.run_id, "created_at": _ms(run.created_at)}
    if run.work_finished_at is not None and elapsed >= run.run_seconds:
        view |= _terminal(run)
        run.terminal = dict(view)
        return view
    if run.run_seconds > 0 and elapsed >= pending_for:
        view["status"] = "running"
        view["started_at"] = _ms(run.created_at + pending_for)
        view["progress"] = min(99, int(elapsed / run.run_seconds * 100))
    elif run.run_seconds <= 0 and run.work_started_at is not None:
        view["status"] = "running"
        view["started_at"] = _ms(run.work_started_at)
        view["progress"] = 50
    else:
        view["status"] = "pending"
        view["progress"] = 0
    return view


def _terminal(run: Run) -> dict[str, Any]:
    assert run.work_finished_at is not None
    started = run.created_at + run.run_seconds * PENDING_FRACTION
    if run.run_seconds <= 0 and run.work_started_at is not None:
        started = run.work_started_at
    ended = max(run.created_at + run.run_seconds, run.work_finished_at)
    view: dict[str, Any] = {
        "progress": 100,
        "started_at": _ms(min(started, ended)),
        "completed_at": _ms(ended),
    }
    if run.failure is not None:
        code, message = run.failure
        return view | {
            "status": "failed",
            "error_code": code,
            "error_message": message,
            "charged_cost": 0,
        }
    return view | {
        "status": "completed",
        "charged_cost": run.run_cost,
        "outputs": list(run.outputs or []),
    }
