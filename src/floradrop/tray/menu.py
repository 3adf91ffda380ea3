"""The tray menu as plain data: a pure function of the status snapshot.

:func:`menu_model` says *what* the menu offers (labels, enabled and checked flags, which action
or path each entry stands for); :mod:`floradrop.tray.app` turns that into a pystray menu. Tests
check the model headless, with no display and no pystray.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from floradrop.jobs import JobState
from floradrop.status import Attention, AttentionKind, FolderStatus, RecentItem, Snapshot

MAX_RECENT = 10
MAX_LABEL = 60


class Action(enum.StrEnum):
    """What choosing a menu entry does. The adapter maps each one to a call."""

    PAUSE = "pause"
    RESUME = "resume"
    OPEN = "open"  # open ``MenuEntry.path`` with the platform's opener
    OPEN_DASHBOARD = "open_dashboard"  # the local web dashboard, in the browser
    RELOAD_CONFIG = "reload_config"
    ACKNOWLEDGE = "acknowledge"  # past failures and the last error need no more attention
    START_AT_LOGIN = "start_at_login"  # toggles: enable when unchecked, disable when checked
    QUIT = "quit"
    APPROVE = "approve"  # start the big drop held in ``MenuEntry.path`` (its folder)
    CANCEL_HELD = "cancel_held"  # cancel it


@dataclass(frozen=True)
class MenuEntry:
    """One line of the tray menu.

    An entry is a separator, a submenu (``submenu`` is not empty), an action, or a disabled line
    of text (``action`` is None).
    """

    label: str = ""
    action: Action | None = None
    path: Path | None = None
    enabled: bool = True
    checked: bool | None = None  # None: not a check item
    submenu: tuple[MenuEntry, ...] = ()
    separator: bool = False
    default: bool = False  # the action a click on the icon runs, where the backend has one


SEPARATOR = MenuEntry(separator=True)

_ATTENTION_TITLES = {
    AttentionKind.FAILED_JOB: "A file failed",
    AttentionKind.BUDGET: "Budget reached",
    AttentionKind.AUTH: "API key rejected",
    AttentionKind.CREDITS: "Out of credits",
    AttentionKind.OFFLINE: "No connection",
    AttentionKind.CONFIG: "Configuration problem",
    AttentionKind.DISK: "Cannot write outputs",
    AttentionKind.CONFIRM: "Big drop",
}


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    """One line of at most ``limit`` characters (menus do not wrap)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _info(label: str) -> MenuEntry:
    return MenuEntry(label=shorten(label), enabled=False)


def status_lines(snapshot: Snapshot) -> tuple[str, ...]:
    """The status line(s) at the top of the menu: what is going on, then what is wrong."""
    if snapshot.paused:
        activity = "Paused"
        if snapshot.running:
            activity += f", {snapshot.running} finishing"
    elif snapshot.running or snapshot.queued:
        activity = f"{snapshot.running} running, {snapshot.queued} queued"
    else:
        activity = "Idle: watching for new files"
    asked = sum(q.files for q in snapshot.questions)
    if asked:
        activity += f", {asked} to approve"
    if snapshot.held - asked > 0:
        activity += f", {snapshot.held - asked} waiting for budget"
    if snapshot.scheduled:
        windows = [f.schedule for f in snapshot.folders if f.schedule and f.schedule.held]
        opens = sorted({w.opens for w in windows})
        activity += f", {snapshot.scheduled} held by schedule"
        activity += f" (starts {opens[0]})" if len(opens) == 1 else ""
    if snapshot.to_review:
        activity += f", {snapshot.to_review} to review"
    day = f"{snapshot.done_today} done today"
    if snapshot.failed_today:
        day += f", {snapshot.failed_today} failed"
    day += f", ${snapshot.spend_today_usd:.2f} spent"
    lines = [activity, day]
    if snapshot.attention is not None:
        lines.extend(attention_lines(snapshot.attention))
    return tuple(lines)


def attention_lines(attention: Attention) -> tuple[str, ...]:
    """What is wrong, and what to do about it."""
    title = _ATTENTION_TITLES.get(attention.kind, "Needs attention")
    lines = [f"{title}: {attention.message}"]
    if attention.hint:
        lines.append(f"What to do: {attention.hint}")
    return tuple(lines)


def _folder_label(folder: FolderStatus) -> str:
    busy = sum(folder.count(s) for s in JobState if s.active)
    scheduled = folder.schedule.held if folder.schedule else 0
    waiting = folder.count(JobState.WAITING) + folder.count(JobState.HELD) - scheduled
    failed = folder.count(JobState.FAILED)
    parts = []
    if busy:
        parts.append(f"{busy} running")
    if waiting:
        parts.append(f"{waiting} queued")
    if scheduled:
        parts.append(f"{scheduled} held by schedule")
    if folder.review:
        parts.append(f"{folder.review} to review")
    if failed:
        parts.append(f"{failed} failed")
    suffix = f" ({', '.join(parts)})" if parts else ""
    return shorten(folder.name + suffix)


def _folder_entry(folder: FolderStatus) -> MenuEntry:
    failed = folder.count(JobState.FAILED)
    review: tuple[MenuEntry, ...] = ()
    if folder.review_folder is not None:  # a hold point: where outputs wait for a person
        label = f"Open review folder ({folder.review})" if folder.review else "Open review folder"
        review = (MenuEntry(label, Action.OPEN, path=folder.review_folder),)
    return MenuEntry(
        label=_folder_label(folder),
        submenu=(
            MenuEntry("Open inbox", Action.OPEN, path=folder.path),
            *review,
            MenuEntry("Open outputs", Action.OPEN, path=folder.outputs),
            MenuEntry(
                f"Open failed folder ({failed})" if failed else "Open failed folder",
                Action.OPEN,
                path=folder.failed,
            ),
        ),
    )


def _flow_entry(flow: tuple[str, ...], steps: list[FolderStatus]) -> MenuEntry:
    """A chain of folders as one flow: its label sums the steps, each step a submenu."""
    busy = sum(f.count(s) for f in steps for s in JobState if s.active)
    waiting = sum(f.count(JobState.WAITING) + f.count(JobState.HELD) for f in steps)
    failed = sum(f.count(JobState.FAILED) for f in steps)
    review = sum(f.review or 0 for f in steps)
    parts = [f"{busy} running"] if busy else []
    parts += [f"{waiting} queued"] if waiting else []
    parts += [f"{review} to review"] if review else []
    parts += [f"{failed} failed"] if failed else []
    suffix = f" ({', '.join(parts)})" if parts else ""
    return MenuEntry(
        label=shorten(" → ".join(flow) + suffix),
        submenu=tuple(_folder_entry(step) for step in steps),
    )


def folder_entries(folders: tuple[FolderStatus, ...]) -> list[MenuEntry]:
    """One entry per folder; the folders of a chain together, as one flow."""
    entries: list[MenuEntry] = []
    shown: set[tuple[str, ...]] = set()
    for folder in folders:
        if not folder.flow:
            entries.append(_folder_entry(folder))
        elif folder.flow not in shown:
            shown.add(folder.flow)
            steps = [f for f in folders if f.flow == folder.flow]
            entries.append(_flow_entry(folder.flow, steps))
    return entries


def _recent_entry(title: str, items: tuple[RecentItem, ...], empty: str) -> MenuEntry:
    recent = sorted(items, key=lambda item: item.at, reverse=True)[:MAX_RECENT]
    entries = tuple(
        MenuEntry(shorten(item.label or item.path.name), Action.OPEN, path=item.path)
        for item in recent
    )
    return MenuEntry(label=title, submenu=entries or (_info(empty),))


def _open_entry(label: str, path: Path | None) -> MenuEntry:
    return MenuEntry(label, Action.OPEN, path=path, enabled=path is not None)


def acknowledgeable(snapshot: Snapshot) -> bool:
    """Something that "Acknowledge" clears is shown: a recent failure or a last error."""
    failed = snapshot.attention is not None and snapshot.attention.kind is AttentionKind.FAILED_JOB
    return failed or snapshot.last_error is not None


def menu_model(
    snapshot: Snapshot, *, has_menu: bool = True, dashboard: bool = False
) -> tuple[MenuEntry, ...]:
    """The tray menu for ``snapshot`` (with "Open dashboard" when ``dashboard``).

    With ``has_menu=False`` (a backend that shows no menu, such as pystray's xorg) only the
    action a click on the icon may run is returned: opening the log, where the status is.
    """
    if not has_menu:
        if snapshot.log_file is None:
            return ()
        return (MenuEntry("Open log", Action.OPEN, path=snapshot.log_file, default=True),)

    entries: list[MenuEntry] = [_info(line) for line in status_lines(snapshot)]
    entries.append(SEPARATOR)
    for question in snapshot.questions:  # the big-drop question: Start / Cancel
        where = Path(question.folder)
        label = question.text.rstrip("?")
        entries.append(MenuEntry(shorten(label), Action.APPROVE, path=where))
        entries.append(
            MenuEntry(shorten(f"Cancel them ({question.name})"), Action.CANCEL_HELD, path=where)
        )
    if snapshot.questions:
        entries.append(SEPARATOR)
    entries.append(
        MenuEntry(
            "Pause",
            Action.RESUME if snapshot.paused else Action.PAUSE,
            checked=snapshot.paused,
        )
    )
    if acknowledgeable(snapshot):
        entries.append(MenuEntry("Acknowledge", Action.ACKNOWLEDGE))
    if dashboard:
        entries.append(MenuEntry("Open dashboard", Action.OPEN_DASHBOARD))
    entries.append(SEPARATOR)
    if snapshot.folders:
        entries.extend(folder_entries(snapshot.folders))
    else:
        entries.append(_info("No watched folders"))
    entries.append(SEPARATOR)
    entries.append(_recent_entry("Recent results", snapshot.recent_results, "No results yet"))
    entries.append(_recent_entry("Recent failures", snapshot.recent_failures, "No failures"))
    entries.append(SEPARATOR)
    entries.append(_open_entry("Open log", snapshot.log_file))
    entries.append(_open_entry("Edit config", snapshot.config_file))
    entries.append(MenuEntry("Reload config", Action.RELOAD_CONFIG))
    if snapshot.service_installed is not None:
        entries.append(
            MenuEntry("Start at login", Action.START_AT_LOGIN, checked=snapshot.service_installed)
        )
    entries.append(SEPARATOR)
    entries.append(MenuEntry("Quit floradrop", Action.QUIT))
    return tuple(entries)


MAX_TOOLTIP = 127  # Windows' limit for a notification-area tooltip


def tooltip_text(snapshot: Snapshot) -> str:
    """The icon's tooltip: the state in words ("3 running, 12 done today, $0.48 spent")."""
    text = f"floradrop: {snapshot.summary()}"
    if snapshot.attention is not None:
        text += "\n" + attention_lines(snapshot.attention)[0]
    return text if len(text) <= MAX_TOOLTIP else text[: MAX_TOOLTIP - 1] + "…"
