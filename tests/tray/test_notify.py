"""Notification coalescing, driven by snapshot sequences and a fake clock."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from floradrop.status import Attention, AttentionKind, FolderStatus, RecentItem, Snapshot
from floradrop.tray.notify import Notification, Notifier

from .conftest import folder


class Feed:
    """Feeds snapshots to a notifier at fake times and collects what it says."""

    def __init__(self, notifier: Notifier | None = None) -> None:
        self.notifier = notifier or Notifier()
        self.now = 0.0
        self.shown: list[Notification] = []

    def at(self, seconds: float, snapshot: Snapshot) -> list[Notification]:
        self.now = seconds
        out = self.notifier.update(snapshot, seconds)
        self.shown.extend(out)
        return out

    def idle_until(self, seconds: float, snapshot: Snapshot, step: float = 0.5) -> None:
        while self.now + step <= seconds:
            self.at(self.now + step, snapshot)


def state(root: Path, *, name: str = "CCTV Cam", results: int = 0, **counts: int) -> Snapshot:
    f = folder(root, name, **counts)
    return Snapshot(
        folders=(f,),
        recent_results=tuple(
            RecentItem(f.outputs / f"out{i}.png", f"out{i}.png", float(i)) for i in range(results)
        ),
    )


def with_folders(*folders: FolderStatus) -> Snapshot:
    return Snapshot(folders=folders)


def test_history_before_the_first_snapshot_is_not_announced(root: Path) -> None:
    feed = Feed()
    assert feed.at(0, state(root, done=40, failed=3)) == []
    feed.idle_until(200, state(root, done=40, failed=3))
    assert feed.shown == []


def test_a_finished_batch_gives_one_notification(root: Path) -> None:
    feed = Feed()
    feed.at(0, state(root))
    feed.at(1, state(root, waiting=8))
    for done in range(1, 9):  # one file finishes per second
        feed.at(1 + done, state(root, done=done, waiting=8 - done, results=done))
    feed.idle_until(30, state(root, done=8, results=8))
    assert feed.shown == [Notification("Files done", "8 images done in CCTV Cam")]


def test_batch_waits_for_a_quiet_moment_before_announcing(root: Path) -> None:
    feed = Feed(Notifier(batch_quiet=3))
    feed.at(0, state(root, waiting=1))
    assert feed.at(1, state(root, done=1, results=1)) == []
    assert feed.at(2, state(root, done=1, results=1)) == []
    assert feed.at(4, state(root, done=1, results=1)) == [
        Notification("Files done", "1 image done in CCTV Cam")
    ]


def test_a_drop_of_500_files_gives_a_handful_of_notifications(root: Path) -> None:
    feed = Feed()
    feed.at(0, state(root))
    feed.at(0.5, state(root, waiting=500))
    now, done = 0.5, 0
    while done < 500:  # two files a second, polled every half second
        now += 0.5
        done += 1
        feed.at(now, state(root, done=done, running=min(4, 500 - done), waiting=max(0, 496 - done)))
    feed.idle_until(now + 30, state(root, done=500))
    assert 1 < len(feed.shown) <= 5, feed.shown
    assert all(n.title == "Files done" for n in feed.shown)
    assert feed.shown[0].message.endswith("to go")
    assert sum(int(n.message.split()[0]) for n in feed.shown) == 500


def test_folders_finishing_together_share_a_notification(root: Path) -> None:
    cam, scans = folder(root, "CCTV Cam"), folder(root, "Scans")
    feed = Feed()
    feed.at(0, with_folders(cam, scans))
    feed.at(
        1,
        with_folders(
            dataclasses.replace(cam, counts={"done": 2}),
            dataclasses.replace(scans, counts={"done": 1}),
        ),
    )
    feed.idle_until(
        10,
        with_folders(
            dataclasses.replace(cam, counts={"done": 2}),
            dataclasses.replace(scans, counts={"done": 1}),
        ),
    )
    assert feed.shown == [
        Notification("Files done", "2 files done in CCTV Cam; 1 file done in Scans")
    ]


def test_output_kind_names_the_files(root: Path) -> None:
    f = folder(root)
    feed = Feed()
    feed.at(0, with_folders(f))
    videos = Snapshot(
        folders=(dataclasses.replace(f, counts={"done": 2}),),
        recent_results=(
            RecentItem(f.outputs / "a.mp4", "a.mp4", 1),
            RecentItem(f.outputs / "b.MOV", "b.MOV", 2),
        ),
    )
    feed.idle_until(10, videos)
    assert feed.shown == [Notification("Files done", "2 videos done in CCTV Cam")]


def test_a_failure_burst_gives_one_notification(root: Path) -> None:
    f = folder(root)
    feed = Feed(Notifier(failure_quiet=5))
    feed.at(0, with_folders(f))
    failures: list[RecentItem] = []
    for i in range(1, 21):  # twenty failures, one every half second
        failures.append(RecentItem(f.failed / f"bad{i}.jpg.error.txt", f"bad{i}.jpg", float(i)))
        feed.at(
            i * 0.5,
            Snapshot(
                folders=(dataclasses.replace(f, counts={"failed": i}),),
                recent_failures=tuple(failures),
            ),
        )
    feed.idle_until(
        40,
        Snapshot(
            folders=(dataclasses.replace(f, counts={"failed": 20}),),
            recent_failures=tuple(failures),
        ),
    )
    assert feed.shown == [
        Notification(
            "20 files failed",
            "20 files failed in CCTV Cam. Their error reports are in the failed folders.",
        )
    ]


def test_a_single_failure_names_the_file(root: Path) -> None:
    f = folder(root)
    feed = Feed()
    feed.at(0, with_folders(f))
    failed = Snapshot(
        folders=(dataclasses.replace(f, counts={"failed": 1}),),
        recent_failures=(RecentItem(f.failed / "cat.jpg.error.txt", "cat.jpg", 5.0),),
    )
    feed.idle_until(20, failed)
    assert feed.shown == [
        Notification(
            "A file failed", "cat.jpg failed in CCTV Cam. Its error report is in the failed folder."
        )
    ]


def test_failures_in_several_folders_are_summed_up(root: Path) -> None:
    cam, scans = folder(root, "CCTV Cam"), folder(root, "Scans")
    feed = Feed()
    feed.at(0, with_folders(cam, scans))
    feed.idle_until(
        20,
        with_folders(
            dataclasses.replace(cam, counts={"failed": 1}),
            dataclasses.replace(scans, counts={"failed": 3}),
        ),
    )
    assert [n.message for n in feed.shown] == [
        "4 files failed (3 in Scans, 1 in CCTV Cam). Their error reports are in the failed folders."
    ]


def test_endless_failures_are_reported_every_max_wait(root: Path) -> None:
    f = folder(root)
    feed = Feed(Notifier(failure_quiet=5, failure_max_wait=30))
    feed.at(0, with_folders(f))
    for i in range(1, 121):  # a failure every second for two minutes
        feed.at(i, with_folders(dataclasses.replace(f, counts={"failed": i})))
    assert 3 <= len(feed.shown) <= 5


def test_budget_hold_is_announced_once(root: Path) -> None:
    budget = Attention(
        AttentionKind.BUDGET, "today's budget of $5.00 is spent.", "raise it in the config"
    )
    held = dataclasses.replace(state(root, held=3), held=3, attention=budget)
    feed = Feed()
    feed.at(0, state(root))
    assert feed.at(1, held) == [
        Notification(
            "Budget reached",
            "today's budget of $5.00 is spent.\nWhat to do: raise it in the config",
        )
    ]
    feed.idle_until(100, held)
    assert len(feed.shown) == 1


def test_held_files_without_an_attention_still_announce_the_hold(root: Path) -> None:
    feed = Feed()
    feed.at(0, state(root))
    out = feed.at(1, dataclasses.replace(state(root, held=2), held=2))
    assert [n.title for n in out] == ["Budget reached"]
    assert "2 files wait for budget" in out[0].message


def test_auth_and_credit_problems_are_announced_at_start_too(root: Path) -> None:
    auth = dataclasses.replace(
        state(root),
        attention=Attention(
            AttentionKind.AUTH, "FLORA rejected the API key.", "run 'floradrop init'"
        ),
    )
    feed = Feed()
    assert [n.title for n in feed.at(0, auth)] == ["API key rejected"]
    credits = dataclasses.replace(
        auth, attention=Attention(AttentionKind.CREDITS, "no credits left.")
    )
    assert feed.at(1, credits) == [Notification("Out of credits", "no credits left.")]


def test_flapping_attention_is_not_repeated_within_the_cooldown(root: Path) -> None:
    auth = dataclasses.replace(state(root), attention=Attention(AttentionKind.AUTH, "rejected"))
    fine = state(root)
    feed = Feed(Notifier(attention_cooldown=600))
    feed.at(0, auth)
    for t in range(1, 100):
        feed.at(t, fine if t % 2 else auth)
    assert len(feed.shown) == 1
    feed.at(700, fine)
    assert [n.title for n in feed.at(701, auth)] == ["API key rejected"]


def test_offline_and_failed_job_attention_do_not_notify(root: Path) -> None:
    """No connection shows on the icon only (it comes and goes); failures notify by burst."""
    feed = Feed()
    for t, kind in enumerate((AttentionKind.OFFLINE, AttentionKind.FAILED_JOB)):
        feed.at(t, dataclasses.replace(state(root), attention=Attention(kind, "x")))
    assert feed.shown == []


def test_counts_that_go_down_are_a_new_day_not_negative_work(root: Path) -> None:
    feed = Feed()
    feed.at(0, state(root, done=50))
    feed.idle_until(30, state(root, done=0))
    assert feed.shown == []
    feed.at(31, state(root, done=2, results=2))
    feed.idle_until(60, state(root, done=2, results=2))
    assert feed.shown == [Notification("Files done", "2 images done in CCTV Cam")]


def test_a_big_drop_question_is_asked_once_with_the_question_as_title(root: Path) -> None:
    from floradrop.guard import Question
    from floradrop.money import question_attention

    question = Question(str(root / "CCTV_Cam" / "inbox"), "CCTV Cam", 480, 24.0)
    asking = dataclasses.replace(
        state(root, held=480),
        held=480,
        questions=(question,),
        attention=question_attention([question]),
    )
    feed = Feed()
    feed.at(0, state(root))
    (note,) = feed.at(1, asking)
    assert note.title == "Start 480 files in CCTV Cam for $24.00?"
    assert "Nothing is spent until you answer" in note.message
    assert "floradrop approve" in note.message
    feed.idle_until(600, asking)  # still open: not asked again
    assert len(feed.shown) == 1
