"""The error policy on its own: what each kind of error does to a job, and the back-off."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from floradrop.errors import ConfigError, FatalError, Interrupted, JobError, TransientError
from floradrop.flora.errors import (
    AuthenticationError,
    FieldError,
    InsufficientCreditsError,
    NetworkError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal, StaleTransition
from floradrop.pipeline.upload import NotSettled, SidecarNotYet, SourceGone
from floradrop.policy import (
    DISK_RETRY_MAX_SECONDS,
    MAX_DISK_ATTEMPTS,
    RETRY_MAX_SECONDS,
    SIDECAR_WAIT_SECONDS,
    Act,
    Backoff,
    classify,
)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "j.sqlite3")
    yield journal
    journal.close()


def job_in(journal: Journal, state: JobState) -> Job:
    return journal.add_job(
        job_key=f"key-{state}",
        folder="/in",
        rel_path=f"{state}.png",
        source_path=f"/in/{state}.png",
        size=10,
        mtime_ns=1,
        content_hash="h",
        rule_index=0,
        technique="cctv-cam",
        run_cost=0.05,
        state=state,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_network_pauses_work_and_never_fails_a_job(journal: Journal) -> None:
    job = job_in(journal, JobState.UPLOADING)
    verdict = classify(NetworkError("connection refused", maybe_sent=False), job)
    assert verdict.act is Act.OFFLINE and verdict.base > 0
    # the same outside a job (a poll, the probe): one answer for every loop
    assert classify(NetworkError("timed out", maybe_sent=True), None).act is Act.OFFLINE


def test_kinds_not_classes_decide(journal: Journal) -> None:
    """Any transient error retries, any fatal one blocks: a new FLORA error class needs no arm."""
    job = job_in(journal, JobState.UPLOADING)

    class NewTransientError(TransientError):
        pass

    class NewFatalError(FatalError):
        pass

    retry = classify(NewTransientError("HTTP 599"), job)
    assert retry.act is Act.RETRY and retry.base == 5.0 and not retry.quiet
    assert classify(ServerError("HTTP 503", status_code=503), job).act is Act.RETRY
    assert classify(NewFatalError("stop"), job).act is Act.BLOCK
    blocked = classify(AuthenticationError("key rejected"), job)
    assert blocked.act is Act.BLOCK and isinstance(blocked.error, FatalError)
    assert not blocked.error.credits
    credits = classify(InsufficientCreditsError("no credits"), job)
    assert credits.act is Act.BLOCK and isinstance(credits.error, FatalError)
    assert credits.error.credits


def test_a_job_error_fails_the_job_with_its_report(journal: Journal) -> None:
    job = job_in(journal, JobState.SUBMITTING)
    rejected = ValidationError(
        "invalid input",
        fields=(FieldError("image", "must be a URL"),),
        code="input_validation_error",
    )
    verdict = classify(rejected, job)
    assert verdict.act is Act.FAIL and verdict.failure is not None
    assert verdict.failure.message == "FLORA rejected the run's inputs (image: must be a URL)"
    assert verdict.failure.code == "input_validation_error"
    assert verdict.failure.flora_message == "invalid input"
    assert "techniques show" in verdict.failure.hint
    gone = classify(NotFoundError("no such technique", code="not_found"), job)
    assert gone.act is Act.FAIL and gone.failure is not None
    assert gone.failure.code == "not_found"
    plain = classify(JobError("not an image", hint="drop an image"), job)
    assert plain.failure is not None and plain.failure.hint == "drop an image"


def test_a_config_error_fails_a_job_but_is_a_config_problem_outside_one(
    journal: Journal,
) -> None:
    job = job_in(journal, JobState.UPLOADING)
    failed = classify(ConfigError("the rule takes images only"), job)
    assert failed.act is Act.FAIL and failed.failure is not None
    assert failed.failure.hint == "check the folder's rules"
    assert classify(ConfigError("unknown technique"), None).act is Act.CONFIG


def test_outputs_that_cannot_be_written_never_fail_a_paid_job(journal: Journal) -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    for state in (JobState.FETCHING, JobState.FILING):
        job = job_in(journal, state)
        assert classify(full, job, attempts=10_000).act is Act.DISK
        saved = TransientError("download not saved")
        saved.__cause__ = full
        assert classify(saved, job).act is Act.DISK


def test_a_file_that_cannot_be_read_fails_after_a_few_tries_nothing_paid(
    journal: Journal,
) -> None:
    job = job_in(journal, JobState.UPLOADING)
    problem = OSError(errno.EIO, "I/O error")
    first = classify(problem, job, attempts=0)
    assert first.act is Act.RETRY and first.base == 10.0 and first.say is not None
    assert classify(problem, job, attempts=MAX_DISK_ATTEMPTS - 2).act is Act.RETRY
    last = classify(problem, job, attempts=MAX_DISK_ATTEMPTS - 1)
    assert last.act is Act.FAIL and last.failure is not None
    assert "could not write to disk" in last.failure.message


def test_the_pipeline_signals(journal: Journal) -> None:
    job = job_in(journal, JobState.UPLOADING)
    assert classify(StaleTransition(job.id), job).act is Act.NOTHING
    assert classify(SourceGone("photo.png was deleted"), job).act is Act.CANCEL
    assert classify(NotSettled("still being written"), job).base == 1.0
    stopping = classify(Interrupted("stopping"), job)
    assert stopping.act is Act.RETRY and stopping.base == 0.0
    fresh = classify(SidecarNotYet("no photo.txt"), job, now=lambda: job.created_at + 1)
    assert fresh.act is Act.RETRY
    late = SIDECAR_WAIT_SECONDS + 1
    stale = classify(SidecarNotYet("no photo.txt"), job, now=lambda: job.created_at + late)
    assert stale.act is Act.FAIL


def test_a_bug_fails_the_job_with_its_traceback_and_only_logs_outside_one(
    journal: Journal,
) -> None:
    job = job_in(journal, JobState.RUNNING)
    verdict = classify(KeyError("oops"), job)
    assert verdict.act is Act.FAIL and verdict.bug and verdict.failure is not None
    assert verdict.failure.message.startswith("internal error")
    outside = classify(KeyError("oops"), None)
    assert outside.act is Act.LOG and outside.bug


def test_back_off_doubles_and_stays_capped_after_thousands_of_tries() -> None:
    """A server error every 5 minutes for a week, or a full disk for a day: the delay stays at
    its cap (the doubling once overflowed a float and the job was tried every second)."""
    clock = Clock()
    backoff = Backoff(clock)
    assert [backoff.retry(1, 5.0) for _ in range(4)] == [5.0, 10.0, 20.0, 40.0]
    assert not backoff.ready(1, clock.now + 39) and backoff.ready(1, clock.now + 40)
    for _ in range(5000):
        delay = backoff.retry(2, 5.0)
    assert delay == RETRY_MAX_SECONDS and backoff.attempts(2) == 5000
    for _ in range(5000):
        delay = backoff.disk(3)
    assert delay == DISK_RETRY_MAX_SECONDS
    assert backoff.retry(4, 0.0) == 0.0 and backoff.ready(4, clock.now)


def test_back_off_forgets_and_goes_now() -> None:
    clock = Clock()
    backoff = Backoff(clock)
    backoff.retry(1, 5.0)
    backoff.retry(2, 5.0)
    assert len(backoff) == 2 and 1 in backoff
    backoff.go_now()  # FLORA is back: everyone goes, their attempts are kept
    assert backoff.ready(1, clock.now) and backoff.attempts(1) == 1
    backoff.forget(1)
    assert 1 not in backoff and backoff.attempts(1) == 0
    assert backoff.waiting_for(2) == 0.0
