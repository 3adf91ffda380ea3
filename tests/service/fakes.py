"""Stand-ins for what cannot run here: systemd's user manager, launchd, the Windows registry.

Each keeps the state the real one would and answers the way the real one does (exit codes and
texts as documented and as measured on Debian 12 / macOS), so backends are tested on
behaviour, not on call lists alone. The real ``systemctl`` is used wherever it works without a
user manager (see test_systemd.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from floradrop.service import CommandResult

NO_BUS = "Failed to connect to bus: No medium found"


class FakeSystemctl:
    """``systemctl --user`` with a reachable user manager, for one unit."""

    def __init__(self, unit_dir: Path) -> None:
        self.unit_dir = unit_dir
        self.calls: list[tuple[str, ...]] = []
        self.loaded: str | None = None  # the unit text the manager has loaded
        self.enabled = False
        self.active = False
        self.started_with: str | None = None  # the unit text the running daemon started from
        self.fail: dict[str, CommandResult] = {}  # verb -> result to return instead

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        assert args[:2] == ("systemctl", "--user"), args
        verb, rest = args[2], args[3:]
        if verb in self.fail:
            return self.fail[verb]
        now = "--now" in rest
        unit = next(w for w in rest if not w.startswith("--")) if verb != "daemon-reload" else ""
        if verb == "daemon-reload":
            self.loaded = self._read("floradrop.service")
            return CommandResult(args, 0)
        if verb == "is-enabled":
            if self._read(unit) is None:
                return CommandResult(
                    args,
                    1,
                    "",
                    f"Failed to get unit file state for {unit}: No such file or directory",
                )
            state = "enabled" if self.enabled else "disabled"
            return CommandResult(args, 0 if self.enabled else 1, state + "\n")
        if verb == "is-active":
            state = "active" if self.active else "inactive"
            return CommandResult(args, 0 if self.active else 3, state + "\n")
        if verb == "enable" and self._read(unit) is None:
            return CommandResult(
                args, 1, "", f"Failed to enable unit: Unit file {unit} does not exist."
            )
        starts = verb in {"start", "restart"} or (verb == "enable" and now)
        if starts and self.loaded is None:
            return CommandResult(args, 5, "", f"Failed to start {unit}: Unit {unit} not found.")
        if verb == "enable":
            self.enabled = True
            if now and not self.active:
                self._start()
        elif verb == "disable":
            self.enabled = False
            self.active = self.active and not now
        elif verb == "start":
            if not self.active:
                self._start()
        elif verb == "restart":
            self._start()
        else:
            raise AssertionError(f"unexpected systemctl call {args}")
        return CommandResult(args, 0)

    def _read(self, name: str) -> str | None:
        path = self.unit_dir / name
        return path.read_text() if path.exists() else None

    def _start(self) -> None:
        self.active = True
        self.started_with = self.loaded


class FakeLaunchctl:
    """``launchctl`` in the ``gui/<uid>`` domain, for LaunchAgents."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.loaded: dict[str, str] = {}  # label -> plist text it was bootstrapped from
        self.disabled: set[str] = set()
        self.pid = 4242
        self.fail: dict[str, str] = {}  # verb -> error text (exit code 5, launchd's usual)

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        assert args[0] == "launchctl", args
        verb = args[1]
        if verb in self.fail:
            return CommandResult(args, 5, "", self.fail[verb])
        if verb == "print":
            domain, _, label = args[2].rpartition("/")
            if label not in self.loaded:
                return CommandResult(
                    args,
                    113,
                    "",
                    f'Could not find service "{label}" in domain for user gui: {domain[4:]}',
                )
            text = (
                f"{args[2]} = {{\n\tactive count = 1\n\tstate = running\n\tpid = {self.pid}\n}}\n"
            )
            return CommandResult(args, 0, text)
        if verb == "print-disabled":
            lines = "".join(f'\t"{label}" => disabled\n' for label in sorted(self.disabled))
            return CommandResult(
                args, 0, f'disabled services = {{\n{lines}\t"com.other" => enabled\n}}\n'
            )
        if verb == "enable":
            self.disabled.discard(args[2].rpartition("/")[2])
            return CommandResult(args, 0)
        if verb == "bootstrap":
            path = Path(args[3])
            text = path.read_text()
            label = re.search(r"<key>Label</key>\s*<string>([^<]+)</string>", text)
            assert label, text
            if label.group(1) in self.disabled:
                return CommandResult(args, 119, "", "Bootstrap failed: 119: Service is disabled")
            if label.group(1) in self.loaded:
                return CommandResult(args, 5, "", "Bootstrap failed: 5: Input/output error")
            self.loaded[label.group(1)] = text
            return CommandResult(args, 0)
        if verb == "bootout":
            label = args[2].rpartition("/")[2]
            if label not in self.loaded:
                return CommandResult(args, 3, "", "Boot-out failed: 3: No such process")
            del self.loaded[label]
            return CommandResult(args, 0)
        raise AssertionError(f"unexpected launchctl call {args}")


class FakeRegistry:
    """``HKEY_CURRENT_USER`` as a dict of ``(key, name) -> value``."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str | bytes] = {}

    def read(self, key: str, name: str) -> str | bytes | None:
        return self.values.get((key, name))

    def write(self, key: str, name: str, data: str) -> None:
        self.values[(key, name)] = data

    def delete(self, key: str, name: str) -> None:
        self.values.pop((key, name), None)


def no_commands(argv: Sequence[str]) -> CommandResult:
    raise AssertionError(f"no command should run, but {list(argv)} did")
