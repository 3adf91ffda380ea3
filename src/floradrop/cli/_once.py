"""``floradrop run --once``: wait for the batch, show its progress, then one summary.

On a terminal the progress is one line redrawn in place ("12 done, 1 failed of 40 · ETA 0:32")
with only warnings and errors written above it (the log file has everything); elsewhere (a CI
log, a pipe) a line every 5 s. ``--quiet`` shows only the summary, ``--json`` prints the summary
as one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from floradrop.jobs import JobState

if TYPE_CHECKING:
    from floradrop.engine import Engine
    from floradrop.journal import Journal

MAX_FAILURES_SHOWN = 20


class ProgressLine:
    """One line on a terminal, redrawn in place; log lines are written above it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.text = ""
        self._lock = threading.Lock()

    def show(self, text: str) -> None:
        with self._lock:
            self.stream.write("\r" + text.ljust(len(self.text)))
            self.text = text
            self.stream.flush()

    def write(self, message: str) -> None:
        """A loguru sink: the line is cleared, the message written, the line drawn again."""
        with self._lock:
            if self.text:
                self.stream.write("\r" + " " * len(self.text) + "\r")
            self.stream.write(message)
            self.stream.write(self.text)
            self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self.text:
                self.stream.write("\n")
                self.stream.flush()
                self.text = ""


def progress_line(args: Any) -> ProgressLine | None:
    """The progress line for ``run --once`` on a terminal (not with ``--quiet``)."""
    if not getattr(args, "once", False) or getattr(args, "quiet", False):
        return None
    return ProgressLine(sys.stderr) if sys.stderr.isatty() else None


def _by_state(journal: Journal) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in journal.counts().values():
        for state, n in counts.items():
            totals[state] = totals.get(state, 0) + n
    return totals


class Batch:
    """This run's jobs, counted cheaply: terminal jobs beyond those there at the start, plus
    every unfinished one."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.baseline = _by_state(journal)
        self.started = time.monotonic()

    def counts(self) -> dict[str, int]:
        now = _by_state(self.journal)
        result: dict[str, int] = {}
        for state in JobState:
            n = now.get(state.value, 0)
            if state.terminal:
                n = max(0, n - self.baseline.get(state.value, 0))
            if n:
                result[state.value] = n
        return result

    def line(self) -> str:
        counts = self.counts()
        done, failed = counts.get("done", 0), counts.get("failed", 0)
        finished = sum(n for s, n in counts.items() if JobState(s).terminal)
        total = sum(counts.values())
        text = f"floradrop: {done} done, {failed} failed of {total}"
        if counts.get("duplicate"):
            text += f", {counts['duplicate']} duplicate(s)"
        elapsed = time.monotonic() - self.started
        if finished and total > finished:
            eta = round(elapsed / finished * (total - finished))
            text += f" · ETA {eta // 60}:{eta % 60:02d}"
        elif total > finished:
            text += " · ETA --"
        return text


def wait(engine: Engine, stop: threading.Event, line: ProgressLine | None, quiet: bool) -> None:
    """Until every file is done, or nothing more can happen (e.g. a rejected key)."""
    batch = Batch(engine.journal)
    stable = 0
    worked = False  # once jobs were seen, the start-up scan is over: look more often
    last, next_line = "", time.monotonic() + 5
    try:
        while not stop.wait(0.05 if worked else 0.2):
            if line is not None:
                text = batch.line()
                if text != last:
                    line.show(text)
                    last = text
            elif not quiet and time.monotonic() >= next_line:  # a log: a line every 5 s
                next_line = time.monotonic() + 5
                text = engine.snapshot().summary()
                if text != last:
                    print(f"floradrop: {text}", file=sys.stderr, flush=True)
                    last = text
            if engine.idle():
                stable += 1
                if stable >= 3:  # idle across consecutive checks: intake has nothing either
                    break
            else:
                stable, worked = 0, True
        if line is not None:
            line.show(batch.line())
    finally:
        if line is not None:
            line.close()


def summary(engine: Engine, started: float, stopped: bool) -> dict[str, Any]:
    """This run's outcome: counts, spend, failures with their reports, and the exit code."""
    snapshot = engine.snapshot()
    counts: dict[str, int] = {}
    failures: list[dict[str, Any]] = []
    for job in engine.journal.jobs():  # this run's jobs: finished since start, or unfinished
        if not job.state.terminal or (job.finished_at or 0) >= started:
            counts[job.state.value] = counts.get(job.state.value, 0) + 1
            if job.state is JobState.FAILED:
                failures.append(
                    {
                        "file": job.filed_path or job.source_path,
                        "error": job.error_message,
                        "report": job.report_path,
                    }
                )
    unfinished = sum(n for s, n in counts.items() if not JobState(s).terminal)
    failed = counts.get(JobState.FAILED.value, 0)
    attention = snapshot.attention
    blocked = attention is not None and attention.kind.value in {"auth", "credits"}
    return {
        "done": counts.get(JobState.DONE.value, 0),
        "failed": failed,
        "duplicate": counts.get(JobState.DUPLICATE.value, 0),
        "cancelled": counts.get(JobState.CANCELLED.value, 0),
        "unfinished": unfinished,
        "spend_today_usd": round(snapshot.spend_today_usd, 6),
        "failures": failures,
        "blocked": attention.message if blocked and attention is not None else None,
        "exit_code": 0 if not failed and not unfinished and not stopped else 1,
    }


def report(result: dict[str, Any], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result, indent=2))
        return int(result["exit_code"])
    print(
        f"floradrop: {result['done']} done, {result['failed']} failed, "
        f"{result['duplicate']} duplicate(s), {result['unfinished']} unfinished; "
        f"${result['spend_today_usd']:.2f} spent today",
        file=sys.stderr,
    )
    for failure in result["failures"][:MAX_FAILURES_SHOWN]:
        where = f" (report: {failure['report']})" if failure["report"] else ""
        print(f"  failed: {failure['file']}: {failure['error']}{where}", file=sys.stderr)
    if len(result["failures"]) > MAX_FAILURES_SHOWN:
        print(f"  ... and {len(result['failures']) - MAX_FAILURES_SHOWN} more", file=sys.stderr)
    if result["blocked"]:
        print(f"floradrop: {result['blocked']}", file=sys.stderr)
    return int(result["exit_code"])
