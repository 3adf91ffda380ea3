"""Which notifications to show, coalesced: pure logic over a sequence of snapshots.

The tray feeds every snapshot it reads to :meth:`Notifier.update` with the current time and
shows what comes back. Transitions between snapshots drive it:

* files done: counted per folder and announced when the folder has nothing left in flight (and
  no new result came for a short quiet period), or every ``batch_max_wait`` seconds while a big
  drop is still being worked through ("57 images done in CCTV Cam, 443 to go");
* failures: one notification per burst (a burst ends after ``failure_quiet`` seconds without a
  new failure, or ``failure_max_wait`` after it began);
* a budget hold, a rejected key, no credits or a configuration problem: once when it appears,
  again only after it cleared and came back, and not more than once per ``attention_cooldown``.

So a drop of 500 files gives a handful of notifications, not 500. Nothing is announced about
what happened before the first snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from floradrop.jobs import JobState
from floradrop.status import AttentionKind, RecentItem, Snapshot
from floradrop.tray.menu import Action, MenuEntry

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".avif"}
)
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"})

_NOTIFIED_ATTENTION = {
    AttentionKind.BUDGET: "Budget reached",
    AttentionKind.AUTH: "API key rejected",
    AttentionKind.CREDITS: "Out of credits",
    AttentionKind.CONFIG: "Configuration problem",
    AttentionKind.DISK: "Cannot write outputs",
    AttentionKind.CONFIRM: "Big drop",
}


@dataclass(frozen=True)
class Notification:
    title: str
    message: str
    open_path: Path | None = None  # an "Open" button for this file, where the desktop has one
    # Buttons on the notification where the desktop can show them (D-Bus on Linux): what the
    # menu entry with the same action does. The menu keeps these entries either way.
    buttons: tuple[MenuEntry, ...] = ()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "file"


@dataclass
class _Batch:
    """Files done in one folder since its last notification."""

    count: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    kinds: set[str] = field(default_factory=set)

    def noun(self) -> str:
        return next(iter(self.kinds)) if len(self.kinds) == 1 else "file"


@dataclass
class _Burst:
    """Failures since the last failure notification."""

    per_folder: dict[str, int] = field(default_factory=dict)
    first_label: str | None = None
    first_at: float = 0.0
    last_at: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.per_folder.values())


def _in_flight(counts: dict[str, int]) -> int:
    return sum(n for state, n in counts.items() if state in _IN_FLIGHT)


_IN_FLIGHT = frozenset(
    s.value for s in JobState if s.active or s in (JobState.WAITING, JobState.HELD)
)


class Notifier:
    """Turns snapshot transitions into a few notifications. Not thread-safe: one caller."""

    def __init__(
        self,
        *,
        batch_quiet: float = 3.0,
        batch_max_wait: float = 90.0,
        failure_quiet: float = 5.0,
        failure_max_wait: float = 30.0,
        attention_cooldown: float = 600.0,
    ) -> None:
        self.batch_quiet = batch_quiet
        self.batch_max_wait = batch_max_wait
        self.failure_quiet = failure_quiet
        self.failure_max_wait = failure_max_wait
        self.attention_cooldown = attention_cooldown
        self._last: Snapshot | None = None
        self._batches: dict[str, _Batch] = {}
        self._burst: _Burst | None = None
        self._attention_shown: dict[str, float] = {}
        self._attention_active: str | None = None
        self._notices_seen: float | None = None

    def update(self, snapshot: Snapshot, now: float) -> list[Notification]:
        """Take in the snapshot read at ``now`` (monotonic seconds); return what to show."""
        previous, self._last = self._last, snapshot
        out: list[Notification] = []
        attention = self._attention(snapshot, now)
        if attention is not None:
            out.append(attention)
        if previous is not None:
            self._collect(previous, snapshot, now)
        failures = self._flush_failures(now)
        if failures is not None:
            out.append(failures)
        done = self._flush_batches(snapshot, now)
        if done is not None:
            out.append(done)
        out.extend(self._notices(snapshot))
        return out

    def _notices(self, snapshot: Snapshot) -> list[Notification]:
        """What notify actions asked for since the last snapshot (each once)."""
        seen = self._notices_seen
        latest = max((n.at for n in snapshot.notices), default=seen or 0.0)
        self._notices_seen = max(latest, seen or 0.0)
        if seen is None:
            return []  # nothing from before the first snapshot
        return [Notification(n.title, n.message, n.path) for n in snapshot.notices if n.at > seen]

    def _collect(self, previous: Snapshot, snapshot: Snapshot, now: float) -> None:
        before = {f.name: f for f in previous.folders}
        seen = {r.path for r in previous.recent_results}
        new_results = [r for r in snapshot.recent_results if r.path not in seen]
        seen_failures = {r.path for r in previous.recent_failures}
        new_failures = [r for r in snapshot.recent_failures if r.path not in seen_failures]
        for folder in snapshot.folders:
            old = before.get(folder.name)
            if old is None:  # a folder added by a config reload: start counting from here
                continue
            done = folder.count(JobState.DONE) - old.count(JobState.DONE)
            if done > 0:
                batch = self._batches.setdefault(folder.name, _Batch(first_at=now))
                batch.count += done
                batch.last_at = now
                batch.kinds.update(
                    _kind(r.path) for r in new_results if r.path.is_relative_to(folder.outputs)
                )
            failed = folder.count(JobState.FAILED) - old.count(JobState.FAILED)
            if failed > 0:
                self._add_failures(folder.name, failed, new_failures, now)
        if not snapshot.folders:  # no per-folder counts: fall back to the day's totals
            failed = snapshot.failed_today - previous.failed_today
            if failed > 0:
                self._add_failures("", failed, new_failures, now)

    def _add_failures(
        self, folder: str, count: int, new_failures: list[RecentItem], now: float
    ) -> None:
        if self._burst is None:
            self._burst = _Burst(first_at=now)
        burst = self._burst
        burst.per_folder[folder] = burst.per_folder.get(folder, 0) + count
        burst.last_at = now
        if burst.first_label is None and new_failures:
            latest = max(new_failures, key=lambda r: r.at)
            burst.first_label = latest.label or latest.path.name

    def _flush_failures(self, now: float) -> Notification | None:
        burst = self._burst
        if burst is None:
            return None
        if (
            now - burst.last_at < self.failure_quiet
            and now - burst.first_at < self.failure_max_wait
        ):
            return None
        self._burst = None
        if burst.count == 1:
            name = next(iter(burst.per_folder))
            what = burst.first_label or "A file"
            place = f" in {name}" if name else ""
            return Notification(
                "A file failed",
                f"{what} failed{place}. Its error report is in the failed folder.",
            )
        if len(burst.per_folder) == 1:
            name = next(iter(burst.per_folder))
            detail = f" in {name}" if name else ""
        else:
            ranked = sorted(burst.per_folder.items(), key=lambda kv: (-kv[1], kv[0]))
            detail = " (" + ", ".join(f"{n} in {name}" for name, n in ranked) + ")"
        return Notification(
            f"{burst.count} files failed",
            f"{burst.count} files failed{detail}. Their error reports are in the failed folders.",
        )

    def _flush_batches(self, snapshot: Snapshot, now: float) -> Notification | None:
        folders = {f.name: f for f in snapshot.folders}
        ready: list[str] = []
        for name, batch in list(self._batches.items()):
            folder = folders.get(name)
            left = _in_flight(folder.counts) if folder is not None else 0
            finished = left == 0 and now - batch.last_at >= self.batch_quiet
            if finished or now - batch.first_at >= self.batch_max_wait:
                del self._batches[name]
                text = f"{_plural(batch.count, batch.noun())} done in {name}"
                if left:
                    text += f", {left} to go"
                ready.append(text)
        if not ready:
            return None
        return Notification("Files done", "; ".join(ready))

    def _attention(self, snapshot: Snapshot, now: float) -> Notification | None:
        attention = snapshot.attention
        kind = attention.kind if attention is not None else None
        if kind is None and snapshot.held:
            kind = AttentionKind.BUDGET
        active = kind.value if kind in _NOTIFIED_ATTENTION else None
        if active == self._attention_active:
            return None
        self._attention_active = active
        if kind is None or active is None:
            return None
        last = self._attention_shown.get(active)
        if last is not None and now - last < self.attention_cooldown:
            return None
        self._attention_shown[active] = now
        if kind is AttentionKind.CONFIRM and snapshot.questions:
            # The question itself is the title: "Start 480 files in CCTV Cam for $24.00?"
            buttons: tuple[MenuEntry, ...] = ()
            if len(snapshot.questions) == 1:  # with two, "Start" would not say which
                where = Path(snapshot.questions[0].folder)
                buttons = (
                    MenuEntry("Start", Action.APPROVE, path=where),
                    MenuEntry("Cancel", Action.CANCEL_HELD, path=where),
                )
            return Notification(
                " ".join(q.text for q in snapshot.questions),
                "Nothing is spent until you answer: Start or Cancel in the floradrop menu, "
                "or 'floradrop approve' / 'floradrop cancel'.",
                buttons=buttons,
            )
        if attention is not None and attention.kind == kind:
            text = attention.message
            if attention.hint:
                text += f"\nWhat to do: {attention.hint}"
            return Notification(_NOTIFIED_ATTENTION[kind], text)
        return Notification(
            _NOTIFIED_ATTENTION[kind],
            f"{_plural(snapshot.held, 'file')} wait for budget; "
            "they start when the budget allows it.",
        )
