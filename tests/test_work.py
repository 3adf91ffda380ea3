"""One worker per job: the claims the scheduler takes and the workers' guard releases."""

from __future__ import annotations

import threading

from floradrop.work import Claims


def test_a_job_is_held_by_one_worker_at_a_time() -> None:
    claims = Claims()
    assert claims.claim(1, to_run=True)
    assert not claims.claim(1) and not claims.claim(1, ahead=True)
    assert claims.holds(1) and claims.busy and claims.counts() == (1, 0, 0)
    claims.release(1)
    assert not claims.holds(1) and not claims.busy and claims.counts() == (0, 0, 0)
    assert claims.claim(1, ahead=True) and claims.counts() == (0, 1, 0)
    claims.release(1)
    claims.uploaded_ahead(1, True)  # waits for a run slot; no worker holds it
    assert claims.is_uploaded_ahead(1) and not claims.busy and claims.counts() == (0, 0, 1)
    claims.uploaded_ahead(1, False)
    assert not claims.is_uploaded_ahead(1)


def test_racing_claims_give_one_winner() -> None:
    claims = Claims()
    wins: list[int] = []
    start = threading.Barrier(16)

    def race(n: int) -> None:
        start.wait(10)
        if claims.claim(7, to_run=True):
            wins.append(n)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(wins) == 1 and claims.counts() == (1, 0, 0)
