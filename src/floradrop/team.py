"""This daemon as a member of a team (``[journal] url = "postgresql://..."``, docs/team.md).

:class:`TeamMember` owns one thread, ``floradrop-team``, which every third of the lease:

* renews this member's lease (its heartbeat). A member that finds its lease gone (it was
  frozen or cut off for longer than the lease) joins again under a new id: the jobs it had
  were, or will be, taken over, and the journal's fencing refuses its old work;
* takes over the jobs in progress of members whose lease expired (a daemon killed, a machine
  switched off, a cable pulled). They resume from their durable state on this daemon's
  worker pools; an upload that was under way starts again from the queue;
* reads the team (members, their hosts, versions, last heartbeats and jobs) for the status.

While the database cannot be reached it says so once (the status and the tray show it), and
keeps trying; every job stays in its durable state and work resumes when it is back.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from loguru import logger

from floradrop import __version__
from floradrop.journal.base import Journal, JournalUnreachableError, StaleTransition
from floradrop.status import Attention, AttentionKind, JobState, Snapshot

if TYPE_CHECKING:
    from floradrop.config import FolderConfig
    from floradrop.journal.postgres import PostgresJournal
    from floradrop.pipeline.polling import RunPolling


class TeamMember:
    """Thread-safe reads (:meth:`status`); one instance per engine, started by it."""

    def __init__(
        self,
        journal: PostgresJournal,
        *,
        on_change: Callable[[], None] | None = None,
        on_taken: Callable[[], object] | None = None,
    ) -> None:
        self.journal = journal
        self._on_change = on_change
        self._on_taken = on_taken
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._members: list[dict[str, Any]] = []
        self.unreachable: str | None = None  # what went wrong, while the journal is away
        self.taken_over = 0  # jobs taken over from silent members since the start
        self.last_snapshot: Snapshot | None = None  # shown while the journal is away
        self._folders: Callable[[], Iterable[FolderConfig]] = tuple
        self._known: tuple[FolderConfig, ...] = ()

    @property
    def interval(self) -> float:
        return max(0.5, self.journal.lease_seconds / 3)

    def start(self, folders: Callable[[], Iterable[FolderConfig]]) -> None:
        """Join the team (the database must be reachable: the daemon was able to open it).
        ``folders``: this daemon's folders now (a config reload may change them)."""
        self._folders = folders
        self.set_folders(folders())
        self._join()
        self.beat()
        self._thread = threading.Thread(target=self._loop, name="floradrop-team", daemon=True)
        self._thread.start()

    def set_folders(self, folders: Iterable[FolderConfig]) -> None:
        folders = tuple(folders)
        self._known = folders
        names = [f.name for f in folders]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # (a team knows folders by name: two with one name would be one)
            logger.warning(
                "folders named alike ({}): the team knows folders by name; give each its own "
                "name = ... in the config",
                ", ".join(twice),
            )
        self.journal.set_folders(folders)

    def _join(self) -> None:
        host = socket.gethostname()
        member = f"{host}:{os.getpid()}:{secrets.token_hex(3)}"
        self.journal.register(member, host, __version__, os.getpid())
        logger.info(
            "joined the team's journal {} as {} (lease {:.0f} s)",
            self.journal.where,
            member,
            self.journal.lease_seconds,
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """One heartbeat, take-over and read of the team (the thread's round; tests call it)."""
        folders = tuple(self._folders())
        if folders != self._known:  # the config was reloaded
            self.set_folders(folders)
        try:
            if self.journal.member is None:
                self._join()
            elif not self.journal.heartbeat():
                logger.warning(
                    "this daemon's lease on the team's journal ran out (it was frozen or cut "
                    "off); its jobs go to the others, and it joins again"
                )
                self._join()
            taken = self.journal.take_over()
            for job_id in taken:
                # An upload under way starts again from the queue; the rest resume where they
                # are (the engine's rounds pick up the jobs this member owns).
                with contextlib.suppress(StaleTransition):
                    self.journal.transition(job_id, JobState.UPLOADING, JobState.WAITING)
            if taken:
                self.taken_over += len(taken)
                logger.info("took over {} job(s) of a team member that went silent", len(taken))
                if self._on_taken is not None:
                    self._on_taken()  # (its runs are polled from now on)
            self._members = self.journal.members()
        except JournalUnreachableError as exc:
            if self.unreachable is None:
                logger.warning("{} New work waits; nothing is lost.", exc.message)
                self.unreachable = exc.message
                self._changed()
            return
        if self.unreachable is not None:
            logger.info("the team's journal is reachable again; work resumes")
            self.unreachable = None
            self._changed()
        elif taken:
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            with contextlib.suppress(Exception):
                self._on_change()

    def note_unreachable(self, exc: JournalUnreachableError) -> None:
        """Another thread found the journal away: show it now (the next beat clears it)."""
        if self.unreachable is None:
            logger.warning("{} New work waits; nothing is lost.", exc.message)
            self.unreachable = exc.message
            self._changed()

    def status(self) -> dict[str, Any]:
        """The team for the status snapshot: the journal (no password), this member, and
        every member with host, version, last heartbeat and the jobs it owns."""
        return {
            "journal": self.journal.where,
            "member": self.journal.member,
            "unreachable": self.unreachable,
            "taken_over": self.taken_over,
            "members": list(self._members),
        }

    def stop(self) -> None:
        """Leave the team: the lease ends now, so the others take over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with contextlib.suppress(JournalUnreachableError):
            self.journal.leave()


def join_team(
    journal: Journal,
    folders: Callable[[], Iterable[FolderConfig]],
    polling: Callable[[], RunPolling | None] = lambda: None,
    *,
    on_change: Callable[[], None] | None = None,
) -> TeamMember | None:
    """Join the team when ``journal`` is shared (PostgreSQL); None for one machine's. The
    runs of jobs taken over are ``polling``'s to poll from then on."""
    if not journal.shared:
        return None
    from floradrop.journal.postgres import PostgresJournal

    assert isinstance(journal, PostgresJournal)

    def taken() -> None:
        poller = polling()
        if poller is not None:
            poller.refresh()

    member = TeamMember(journal, on_change=on_change, on_taken=taken)
    member.start(folders)
    return member


def team_snapshot(build: Callable[[], Snapshot], team: TeamMember | None) -> Snapshot:
    """The status snapshot with the team in it; while the team's journal cannot be reached,
    the last one known, saying so (the tray and ``status`` show it)."""
    if team is None:
        return build()
    try:
        snapshot = build()
    except JournalUnreachableError as exc:
        team.note_unreachable(exc)
        snapshot = team.last_snapshot or Snapshot(daemon_running=True)
    team.last_snapshot = team_status(snapshot, team)
    return team.last_snapshot


def team_status(snapshot: Snapshot, team: TeamMember | None) -> Snapshot:
    """``snapshot`` with the team in it, and, while the team's journal is away, that first."""
    if team is None:
        return snapshot
    status = team.status()
    attention = snapshot.attention
    if status["unreachable"]:
        attention = Attention(
            AttentionKind.JOURNAL,
            f"{status['unreachable']}; new work waits, nothing is lost, and it resumes by itself.",
            "check that PostgreSQL runs and this machine can reach it",
        )
    return replace(snapshot, team=status, attention=attention)
