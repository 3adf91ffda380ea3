"""The menu model: a pure function of the snapshot, checked without a display."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from floradrop.status import Attention, AttentionKind, Snapshot, TrayState
from floradrop.tray.menu import MAX_RECENT, Action, MenuEntry, menu_model, tooltip_text

from .conftest import folder


def by_label(entries: tuple[MenuEntry, ...], label: str) -> MenuEntry:
    matches = [e for e in entries if e.label == label]
    assert len(matches) == 1, f"{label!r} in {[e.label for e in entries]}"
    return matches[0]


def info_lines(entries: tuple[MenuEntry, ...]) -> list[str]:
    return [e.label for e in entries if not e.separator and e.action is None and not e.submenu]


def test_idle_menu_lists_everything_a_person_needs(busy: Snapshot) -> None:
    idle = dataclasses.replace(busy, running=0, queued=0)
    entries = menu_model(idle)
    assert idle.state is TrayState.IDLE
    assert [e.label for e in entries if not e.separator] == [
        "Idle: watching for new files",
        "15 done today, 1 failed, $0.48 spent",
        "Pause",
        "CCTV Cam (2 running, 1 queued, 1 failed)",
        "Scans",
        "Recent results",
        "Recent failures",
        "Open log",
        "Edit config",
        "Reload config",
        "Start at login",
        "Quit floradrop",
    ]
    assert entries[0].enabled is False and entries[1].enabled is False
    assert not entries[0].separator and not entries[-1].separator
    # Separators never come in pairs.
    assert not any(a.separator and b.separator for a, b in itertools.pairwise(entries))


def test_working_status_line_counts_jobs(busy: Snapshot) -> None:
    entries = menu_model(busy)
    assert busy.state is TrayState.WORKING
    assert info_lines(entries)[:2] == [
        "2 running, 1 queued",
        "15 done today, 1 failed, $0.48 spent",
    ]


@pytest.mark.parametrize("paused", [False, True])
def test_pause_item_is_checked_when_paused_and_toggles(busy: Snapshot, paused: bool) -> None:
    entries = menu_model(dataclasses.replace(busy, paused=paused))
    pause = by_label(entries, "Pause")
    assert pause.checked is paused
    assert pause.enabled
    assert pause.action is (Action.RESUME if paused else Action.PAUSE)


def test_paused_status_line_says_what_still_runs(busy: Snapshot) -> None:
    snapshot = dataclasses.replace(busy, paused=True)
    assert snapshot.state is TrayState.PAUSED
    assert info_lines(menu_model(snapshot))[0] == "Paused, 2 finishing"
    quiet = dataclasses.replace(snapshot, running=0, held=2)
    assert info_lines(menu_model(quiet))[0] == "Paused, 2 waiting for budget"


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        (AttentionKind.FAILED_JOB, "A file failed"),
        (AttentionKind.BUDGET, "Budget reached"),
        (AttentionKind.AUTH, "API key rejected"),
        (AttentionKind.CREDITS, "Out of credits"),
        (AttentionKind.OFFLINE, "No connection"),
        (AttentionKind.CONFIG, "Configuration problem"),
    ],
)
def test_attention_says_what_and_what_to_do(
    busy: Snapshot, kind: AttentionKind, title: str
) -> None:
    attention = Attention(kind, "something went wrong.", "do this")
    snapshot = dataclasses.replace(busy, attention=attention)
    assert snapshot.state is TrayState.ATTENTION
    lines = info_lines(menu_model(snapshot))
    assert lines[2:4] == [f"{title}: something went wrong.", "What to do: do this"]
    assert tooltip_text(snapshot).endswith(f"\n{title}: something went wrong.")


def test_attention_without_hint_has_one_line(busy: Snapshot) -> None:
    snapshot = dataclasses.replace(busy, attention=Attention(AttentionKind.OFFLINE, "offline"))
    assert [line for line in info_lines(menu_model(snapshot)) if "What to do" in line] == []


def test_long_messages_are_shortened_to_one_line(busy: Snapshot) -> None:
    message = "word " * 40 + "\nsecond line"
    snapshot = dataclasses.replace(busy, attention=Attention(AttentionKind.CONFIG, message))
    line = info_lines(menu_model(snapshot))[2]
    assert len(line) <= 60 and line.endswith("…") and "\n" not in line


def test_folders_open_inbox_outputs_and_failed(busy: Snapshot) -> None:
    cam = busy.folders[0]
    entry = by_label(menu_model(busy), "CCTV Cam (2 running, 1 queued, 1 failed)")
    assert [(e.label, e.action, e.path) for e in entry.submenu] == [
        ("Open inbox", Action.OPEN, cam.path),
        ("Open outputs", Action.OPEN, cam.outputs),
        ("Open failed folder (1)", Action.OPEN, cam.failed),
    ]
    scans = by_label(menu_model(busy), "Scans")
    assert scans.submenu[2].label == "Open failed folder"


def test_no_folders_says_so() -> None:
    assert "No watched folders" in info_lines(menu_model(Snapshot()))


def test_recent_results_are_the_last_ten_newest_first(busy: Snapshot) -> None:
    entry = by_label(menu_model(busy), "Recent results")
    assert len(entry.submenu) == MAX_RECENT
    assert [e.label for e in entry.submenu][:2] == ["frame13.png", "frame12.png"]
    assert all(e.action is Action.OPEN and e.path is not None for e in entry.submenu)
    assert entry.submenu[0].path == busy.recent_results[-1].path


def test_recent_failures_open_the_error_report(busy: Snapshot) -> None:
    entry = by_label(menu_model(busy), "Recent failures")
    assert [(e.label, e.path) for e in entry.submenu] == [
        ("broken.jpg", busy.recent_failures[0].path)
    ]


def test_empty_recent_lists_show_a_disabled_line() -> None:
    entries = menu_model(Snapshot())
    for label, empty in (("Recent results", "No results yet"), ("Recent failures", "No failures")):
        entry = by_label(entries, label)
        assert [(e.label, e.enabled, e.action) for e in entry.submenu] == [(empty, False, None)]


def test_log_and_config_entries_need_their_files() -> None:
    entries = menu_model(Snapshot())
    assert by_label(entries, "Open log").enabled is False
    assert by_label(entries, "Edit config").enabled is False
    known = menu_model(Snapshot(config_file=Path("c.toml"), log_file=Path("f.log")))
    assert by_label(known, "Edit config").path == Path("c.toml")
    assert by_label(known, "Open log").path == Path("f.log")
    assert by_label(known, "Reload config").action is Action.RELOAD_CONFIG
    assert by_label(known, "Quit floradrop").action is Action.QUIT


@pytest.mark.parametrize(("installed", "shown"), [(None, False), (False, True), (True, True)])
def test_start_at_login_only_where_the_service_is_known(
    busy: Snapshot, installed: bool | None, shown: bool
) -> None:
    entries = menu_model(dataclasses.replace(busy, service_installed=installed))
    items = [e for e in entries if e.action is Action.START_AT_LOGIN]
    assert len(items) == int(shown)
    if shown:
        assert items[0].checked is installed


def test_menu_less_backend_gets_only_a_default_action(busy: Snapshot) -> None:
    entries = menu_model(busy, has_menu=False)
    assert entries == (MenuEntry("Open log", Action.OPEN, path=busy.log_file, default=True),)
    assert menu_model(Snapshot(), has_menu=False) == ()


def test_model_is_pure_and_comparable(busy: Snapshot) -> None:
    assert menu_model(busy) == menu_model(dataclasses.replace(busy))
    assert menu_model(busy) != menu_model(dataclasses.replace(busy, done_today=16))


def test_tooltip_says_the_state_in_words() -> None:
    snapshot = Snapshot(running=3, done_today=12, spend_today_usd=0.48)
    assert tooltip_text(snapshot) == "floradrop: 3 running, 12 done today, $0.48 spent"
    long = Snapshot(attention=Attention(AttentionKind.CONFIG, "x" * 300))
    assert len(tooltip_text(long)) <= 127


def test_every_state_has_a_menu(root: Path) -> None:
    snapshots = {
        TrayState.IDLE: Snapshot(folders=(folder(root),)),
        TrayState.WORKING: Snapshot(running=1),
        TrayState.PAUSED: Snapshot(paused=True),
        TrayState.ATTENTION: Snapshot(attention=Attention(AttentionKind.AUTH, "bad key")),
    }
    for state, snapshot in snapshots.items():
        assert snapshot.state is state
        entries = menu_model(snapshot)
        assert by_label(entries, "Quit floradrop").enabled
        assert by_label(entries, "Pause").checked is (state is TrayState.PAUSED)


@pytest.mark.parametrize(
    ("attention", "last_error", "offered"),
    [
        (Attention(AttentionKind.FAILED_JOB, "1 file(s) failed"), None, True),
        (None, "Connection refused", True),
        (Attention(AttentionKind.OFFLINE, "offline"), None, False),  # still true: not ack-able
        (Attention(AttentionKind.AUTH, "key rejected"), None, False),
        (None, None, False),
    ],
)
def test_acknowledge_is_offered_for_past_failures_and_errors_only(
    busy: Snapshot, attention: Attention | None, last_error: str | None, offered: bool
) -> None:
    snapshot = dataclasses.replace(busy, attention=attention, last_error=last_error)
    entries = [e for e in menu_model(snapshot) if e.label == "Acknowledge"]
    assert bool(entries) is offered
    if offered:
        assert entries[0].action is Action.ACKNOWLEDGE and entries[0].enabled


def test_a_big_drop_question_offers_start_and_cancel_first(busy: Snapshot, root: Path) -> None:
    from floradrop.guard import Question

    question = Question(str(root / "CCTV_Cam" / "inbox"), "CCTV Cam", 480, 24.0)
    asking = dataclasses.replace(busy, held=481, questions=(question,))
    entries = menu_model(asking)
    actions = [e for e in entries if e.action is not None]
    start, cancel = actions[0], actions[1]
    assert (start.label, start.action) == ("Start 480 files in CCTV Cam for $24.00", Action.APPROVE)
    assert (cancel.label, cancel.action) == ("Cancel them (CCTV Cam)", Action.CANCEL_HELD)
    assert start.path == cancel.path == Path(question.folder)
    lines = info_lines(entries)
    assert "480 to approve, 1 waiting for budget" in lines[0]


def test_open_dashboard_is_offered_only_with_the_dashboard(busy: Snapshot) -> None:
    without = [e.action for e in menu_model(busy)]
    assert Action.OPEN_DASHBOARD not in without
    entries = menu_model(busy, dashboard=True)
    actions = [e.action for e in entries]
    assert actions.index(Action.OPEN_DASHBOARD) == actions.index(Action.PAUSE) + 1


def test_outputs_waiting_for_review_show_in_the_menu_and_the_tooltip(busy: Snapshot) -> None:
    cam, scans = busy.folders
    review_folder = cam.path.parent / "inbox-review"
    chain = ("Cam", "Grade")
    held = dataclasses.replace(cam, name="Cam", review=3, review_folder=review_folder, flow=chain)
    grade = dataclasses.replace(scans, name="Grade", flow=chain)
    snapshot = dataclasses.replace(busy, folders=(held, grade))
    entries = menu_model(snapshot)
    assert info_lines(entries)[0] == "2 running, 1 queued, 3 to review"
    flow = by_label(entries, "Cam → Grade (2 running, 1 queued, 3 to review, 1 failed)")
    step = by_label(flow.submenu, "Cam (2 running, 1 queued, 3 to review, 1 failed)")
    opener = by_label(step.submenu, "Open review folder (3)")
    assert opener.action is Action.OPEN and opener.path == review_folder
    labels = [e.label for e in by_label(flow.submenu, "Grade").submenu]
    assert not any("review" in label for label in labels)  # no hold point there
    assert "3 to review" in tooltip_text(snapshot)
    assert snapshot.to_json()["to_review"] == 3
    assert snapshot.to_json()["folders"][0]["review_folder"] == str(review_folder)
    # a hold point with nothing waiting: no count anywhere, its folder still opens
    quiet = dataclasses.replace(busy, folders=(dataclasses.replace(held, review=0), grade))
    entries = menu_model(quiet)
    assert "to review" not in tooltip_text(quiet)
    assert not any("to review" in line for line in info_lines(entries))
    flow = by_label(entries, "Cam → Grade (2 running, 1 queued, 1 failed)")
    step = by_label(flow.submenu, "Cam (2 running, 1 queued, 1 failed)")
    assert by_label(step.submenu, "Open review folder").path == review_folder
