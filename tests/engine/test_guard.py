"""The big-drop guard's decisions: pure, with the clock passed in."""

from __future__ import annotations

from floradrop import guard
from floradrop.guard import Action, Item


def new(n: int, cost: float = 0.05, at: float = 100.0) -> list[Item]:
    return [Item(i, cost, at + i * 0.01) for i in range(n)]


def decide(new_items: list[Item], recent: list[Item] = [], **kw: float) -> guard.Verdict:  # noqa: B006
    args: dict[str, float] = {"files_above": 20, "usd_above": 5.0, "incoming": 0, "now": 101.0}
    args.update(kw)
    return guard.decide(
        new_items,
        recent,
        files_above=int(args["files_above"]),
        usd_above=args["usd_above"],
        incoming=int(args["incoming"]),
        now=args["now"],
    )


def test_a_lone_file_starts_at_once() -> None:
    assert decide(new(1)).action is Action.START


def test_more_files_or_dollars_than_the_thresholds_are_asked_about() -> None:
    asked = decide(new(21))
    assert (asked.action, asked.files, asked.new_question) == (Action.ASK, 21, True)
    assert decide(new(20)).action is Action.START
    assert decide(new(3, cost=2.0)).action is Action.ASK  # $6 > $5
    assert decide(new(2, cost=2.5)).action is Action.START  # $5.00 is not above $5.00


def test_a_burst_still_arriving_waits_a_moment_then_is_asked_about() -> None:
    waiting = decide(new(3), incoming=400, now=100.5)
    assert waiting.action is Action.WAIT  # 403 may be coming: do not start the first 3
    assert decide(new(3), incoming=400, now=100.0 + guard.WAIT_SECONDS + 1).action is Action.START
    assert decide(new(3), incoming=5, now=100.5).action is Action.START  # 8 in all: fine


def test_files_joining_an_open_question_join_it() -> None:
    asked = [Item(i, 0.05, 100.0, "asked") for i in range(30)]
    joined = decide([Item(99, 0.05, 105.0)], asked)
    assert (joined.action, joined.new_question, joined.files) == (Action.ASK, False, 31)


def test_a_burst_is_files_close_together_and_started_ones_count() -> None:
    started = [Item(i, 0.05, 100.0 + i, "auto") for i in range(15)]
    assert decide(new(6, at=115.0), started).action is Action.ASK  # 21 in one burst
    long_ago = [Item(i, 0.05, 10.0 + i, "auto") for i in range(15)]
    assert decide(new(6, at=115.0), long_ago).action is Action.START  # a new burst


def test_the_question_reads_well() -> None:
    assert (
        guard.Question("/f", "CCTV Cam", 480, 24.0).text
        == "Start 480 files in CCTV Cam for $24.00?"
    )
    assert guard.Question("/f", "Scans", 1, 0.05).text == "Start 1 file in Scans for $0.05?"
