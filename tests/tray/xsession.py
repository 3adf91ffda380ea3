"""A real X session for tray tests: Xvfb, a tray host (trayer), xdotool, screenshots.

The recipe measured in ../shared/design/PLATFORM.md (pystray on Linux): ``Xvfb -displayfd`` with
that pipe kept open until Xvfb is stopped; ``trayer`` docked at the top right; the app under
``dbus-run-session`` with ``NO_AT_BRIDGE=1`` and ``PYSTRAY_BACKEND=gtk`` (a right click opens the
menu); the icon found with ``xwininfo -root -tree``; clicks and keys with xdotool; screenshots with
ImageMagick's ``import -window root``. Every process runs in its own session and is stopped by
process group.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from PIL import Image

from floradrop.status import TrayState
from floradrop.tray.icon import STATE_COLOURS

T = TypeVar("T")

TOOLS = ("Xvfb", "trayer", "xdotool", "xwininfo", "import", "dbus-run-session", "dunst")
SCREEN = (800, 600)
PANEL_HEIGHT = 32
DUNSTRC = """\
[global]
    origin = bottom-right
    offset = 10x10
    width = 320
"""


def missing_requirements() -> list[str]:
    """What this machine lacks for a real tray test (empty when it has everything)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if importlib.util.find_spec("gi") is None:
        missing.append("PyGObject (pip install 'floradrop[tray]')")
    return missing


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll ``check`` until it returns something other than None/False; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(pause)  # polling interval of a condition wait, not pacing
        pause = min(pause * 2, 0.5)


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def box(self, pad: int = 0) -> tuple[int, int, int, int]:
        return (self.x - pad, self.y - pad, self.x + self.width + pad, self.y + self.height + pad)


@dataclass(frozen=True)
class Window:
    id: str
    name: str
    depth: int
    rect: Rect


_LINE = re.compile(
    r"^(?P<indent>\s*)(?P<id>0x[0-9a-f]+) (?P<name>.*?):.*?"
    r"(?P<w>\d+)x(?P<h>\d+)[+-]-?\d+[+-]-?\d+\s+\+(?P<ax>-?\d+)\+(?P<ay>-?\d+)\s*$"
)


def parse_tree(text: str) -> list[Window]:
    """The windows of ``xwininfo -root -tree`` with their nesting depth and absolute rects."""
    windows = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            windows.append(
                Window(
                    id=match["id"],
                    name=match["name"],
                    depth=len(match["indent"]),
                    rect=Rect(int(match["ax"]), int(match["ay"]), int(match["w"]), int(match["h"])),
                )
            )
    return windows


def state_of_pixels(image: Image.Image, min_share: float = 0.08) -> TrayState | None:
    """The tray state whose colour covers most of ``image`` (an icon's region), if any does."""
    data = image.convert("RGB").tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    counts = dict.fromkeys(STATE_COLOURS, 0)
    for pixel in pixels:
        for state, colour in STATE_COLOURS.items():
            if sum((a - b) ** 2 for a, b in zip(pixel, colour, strict=True)) < 40**2:
                counts[state] += 1
                break
    state, count = max(counts.items(), key=lambda kv: kv[1])
    return state if count >= min_share * len(pixels) else None


def menu_checkboxes(shot: Image.Image, menu: Rect) -> list[bool]:
    """The check boxes of a GTK menu in a screenshot, top to bottom: True where checked.

    A box is two dark horizontal edges about 15 px apart in the menu's left margin; a checked
    one has the dark check mark between them (an empty one only its two sides).
    """
    strip = shot.convert("L").crop((menu.x, menu.y, menu.x + 30, menu.y + menu.height))
    width, height = strip.size
    data = strip.tobytes()
    dark = [sum(1 for x in range(width) if data[y * width + x] < 110) for y in range(height)]
    edges = [y for y in range(height) if dark[y] >= 8 and (y == 0 or dark[y - 1] < 8)]
    boxes: list[bool] = []
    while len(edges) >= 2:
        top = edges.pop(0)
        bottom = next((e for e in edges if 10 <= e - top <= 20), None)
        if bottom is None:
            continue
        edges = [e for e in edges if e > bottom]
        boxes.append(any(dark[y] >= 5 for y in range(top + 2, bottom - 1)))
    return boxes


class XSession:
    """Xvfb + trayer, and the processes started in it. Use as a context manager."""

    screen_width, screen_height = SCREEN

    def __init__(self, workdir: Path, *, tray_host: bool = True) -> None:
        self.workdir = workdir
        self.tray_host = tray_host
        self.display = ""
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._displayfd: int | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._shots = 0

    def __enter__(self) -> XSession:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 4):
            if self._start_xvfb():
                break
            if attempt == 3:
                raise RuntimeError(f"Xvfb did not start\n{self.diagnostics()}")
        config_home = self.workdir / "xdg-config"
        (config_home / "dunst").mkdir(parents=True, exist_ok=True)
        (config_home / "dunst" / "dunstrc").write_text(DUNSTRC)
        if self.tray_host:
            self.start_tray_host()

    def start_tray_host(self) -> None:
        """Start trayer, docked at the top right, and wait until it owns the tray selection."""
        self.spawn(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "pixel",
                "--width",
                "200",
                "--height",
                str(PANEL_HEIGHT),
                "--SetDockType",
                "true",
                "--transparent",
                "false",
            ],
            log="trayer.log",
        )
        try:
            wait_for("the trayer panel", lambda: self.find_window("panel"))
            wait_for("trayer to own the tray selection", self.tray_manager)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnostics()}") from None

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self._procs):
            self.stop_process(proc)
        if self._xvfb is not None:
            self.stop_process(self._xvfb)
        if self._displayfd is not None:
            os.close(self._displayfd)
            self._displayfd = None

    def _start_xvfb(self) -> bool:
        """Start Xvfb on a fresh display number; True once it accepts connections.

        ``-noreset``: by default the server resets whenever its last client disconnects, and a
        client connecting during the reset (trayer, right after a probe) is refused. A random
        display number, not the first free one, keeps clear of a stale socket left by a
        killed server (Xvfb here takes no lock files, so it cannot tell).
        """
        if self._xvfb is not None:
            self.stop_process(self._xvfb)
        if self._displayfd is not None:
            os.close(self._displayfd)
        number = random.randint(100, 30000)
        read_end, write_end = os.pipe()
        with (self.workdir / "xvfb.log").open("ab") as log:
            self._xvfb = subprocess.Popen(
                [
                    "Xvfb",
                    f":{number}",
                    "-displayfd",
                    str(write_end),
                    "-screen",
                    "0",
                    f"{SCREEN[0]}x{SCREEN[1]}x24",
                    "-noreset",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write_end,),
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        os.close(write_end)
        # Keep the read end open until Xvfb is stopped: closing it kills Xvfb (as measured in
        # ../shared/design/PLATFORM.md).
        self._displayfd = read_end
        announced = b""
        while not announced.endswith(b"\n"):
            chunk = os.read(read_end, 16)  # returns b"" when Xvfb exits
            if not chunk:
                return False
            announced += chunk
        self.display = ":" + announced.decode().strip()
        try:
            wait_for("Xvfb to accept connections", self._connectable, timeout=10)
        except AssertionError:
            return False
        return True

    def _connectable(self) -> bool:
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError

        try:
            xdisplay.Display(self.display).close()
        except DisplayError:
            return False
        return True

    def tray_manager(self) -> int:
        """The window id owning the system tray selection (0: no tray host yet)."""
        from Xlib import display as xdisplay

        connection = xdisplay.Display(self.display)
        try:
            atom = connection.intern_atom("_NET_SYSTEM_TRAY_S0")
            owner = connection.get_selection_owner(atom)
            return int(owner.id) if owner else 0
        finally:
            connection.close()

    def diagnostics(self) -> str:
        """What the session's logs say, for a failure message."""
        xvfb = self._xvfb
        parts = [
            f"display {self.display}, Xvfb pid {xvfb.pid if xvfb else None}, "
            f"exit code {xvfb.poll() if xvfb else None}"
        ]
        for log in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}")
        locks = sorted(str(p) for p in Path("/tmp").glob(".X*-lock"))
        sockets = sorted(str(p) for p in Path("/tmp/.X11-unix").glob("*"))
        parts.append(f"--- X locks {locks}, sockets {sockets}")
        return "\n".join(parts)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "WAYLAND_"))}
        env.update(
            DISPLAY=self.display,
            NO_AT_BRIDGE="1",
            PYSTRAY_BACKEND="gtk",
            XDG_CONFIG_HOME=str(self.workdir / "xdg-config"),
        )
        env.update(extra or {})
        return env

    def spawn(
        self,
        argv: Sequence[str],
        *,
        log: str,
        env: Mapping[str, str] | None = None,
        dbus: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own session (under a private D-Bus session with ``dbus``)."""
        command = ["dbus-run-session", "--", *argv] if dbus else list(argv)
        with (self.workdir / log).open("ab") as out:
            proc = subprocess.Popen(
                command,
                env=self.env(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    @staticmethod
    def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, then SIGKILL it if it does not end in time."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):  # whatever it left behind in its group
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode

    def run(self, argv: Sequence[str], timeout: float = 20.0) -> str:
        result = subprocess.run(
            argv, env=self.env(), capture_output=True, text=True, timeout=timeout, check=True
        )
        return result.stdout

    def windows(self) -> list[Window]:
        return parse_tree(self.run(["xwininfo", "-root", "-tree"]))

    def find_window(self, name: str) -> Window | None:
        return next((w for w in self.windows() if w.name == f'"{name}"'), None)

    def tray_icon(self) -> Rect | None:
        """The rect of the (first) icon docked in trayer's panel, or None."""
        windows = self.windows()
        panel = next((i for i, w in enumerate(windows) if w.name == '"panel"'), None)
        if panel is None:
            return None
        inside: list[Window] = []
        for window in windows[panel + 1 :]:
            if window.depth <= windows[panel].depth:
                break
            if window.rect.width >= 16 and window.rect.height >= 16:
                inside.append(window)
        if not inside:
            return None
        return max(inside, key=lambda w: w.depth).rect

    def viewable(self, window: Window) -> bool:
        try:
            info = self.run(["xwininfo", "-id", window.id])
        except subprocess.CalledProcessError:  # gone meanwhile
            return False
        return "Map State: IsViewable" in info

    def wait_icon(self, timeout: float = 30.0) -> Rect:
        """Wait until an icon docks in the tray; on failure say what the screen had."""
        try:
            return wait_for("the icon to dock in the tray", self.tray_icon, timeout=timeout)
        except AssertionError as exc:
            tree = self.run(["xwininfo", "-root", "-tree"])
            raise AssertionError(f"{exc}\n{tree}\n{self.diagnostics()}") from None

    def popups(self, min_height: int = 40) -> list[Window]:
        """Top-level windows on screen (mapped) of at least ``min_height``: menus, tooltips."""
        windows = self.windows()
        top = min((w.depth for w in windows), default=0)
        return [
            w
            for w in windows
            if w.depth == top
            and w.name not in ('"panel"', '"Dunst"')
            and w.rect.width >= 40
            and w.rect.height >= min_height
            and w.rect.x >= 0
            and self.viewable(w)
        ]

    def new_popup(self, before: Sequence[Window], min_height: int = 40) -> Window | None:
        """A popup on screen now that was not on screen in ``before`` (the biggest)."""
        known = {w.id for w in before}
        fresh = [w for w in self.popups(min_height) if w.id not in known]
        return max(fresh, key=lambda w: w.rect.height, default=None)

    def open_menu(self, icon: Rect) -> Window:
        """Right-click the icon (the gtk backend's menu button) and wait for its menu."""
        before = self.popups()
        self.click(*icon.centre, button=3)
        return wait_for("the menu to open", lambda: self.new_popup(before, min_height=100))

    def open_menu_checked(self, icon: Rect, checked: list[bool], shot: Path) -> Window:
        """Open the menu once its check boxes show ``checked`` (top to bottom).

        The tray rebuilds its menu when the status changes, a poll later; a menu opened before
        that would still offer the old entries (Pause instead of Resume).
        """

        def attempt() -> Window | None:
            menu = self.open_menu(icon)
            if menu_checkboxes(self.screenshot(shot), menu.rect) == checked:
                return menu
            self.keys("Escape")
            return None

        return wait_for(f"the menu to show the check boxes {checked}", attempt)

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.run(["xdotool", "mousemove", str(x), str(y), "click", str(button)])

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time: GTK menus drop keys that come too fast
            self.run(["xdotool", "key", "--delay", "50", key])

    def screenshot(self, path: Path) -> Image.Image:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run(["import", "-window", "root", str(path)])
        with Image.open(path) as image:
            image.load()
            return image.copy()

    def icon_state(self, rect: Rect, path: Path) -> TrayState | None:
        return state_of_pixels(self.screenshot(path).crop(rect.box()))


def requirement_marks() -> list[pytest.MarkDecorator]:
    """Marks for a real tray test: ``tray``, and a skip with the reason when tools are missing.

    On CI (``CI`` set) nothing is skipped: ``.ci/run`` installs the tools, so a missing one is
    a failure there.
    """
    marks = [pytest.mark.tray, pytest.mark.timeout(180)]
    if not sys.platform.startswith("linux"):
        return [*marks, pytest.mark.skip(reason="the Xvfb tray test runs on Linux")]
    missing = missing_requirements()
    if missing and not os.environ.get("CI"):
        reason = "real tray test needs " + ", ".join(missing) + " (see .ci/run for the packages)"
        marks.append(pytest.mark.skip(reason=reason))
    return marks
