"""macOS: ~/Library/LaunchAgents/ai.floradrop.agent.plist, generated here with platform="darwin"."""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

import pytest

from floradrop.paths import log_dir
from floradrop.service import ServiceCommandError, backend_for
from floradrop.service.launchd import LABEL, LaunchAgent
from tests.service.fakes import FakeLaunchctl
from tests.service.tools import files_under


def agent(
    launchctl: FakeLaunchctl, config_file: Path | None = None, *, headless: bool = False
) -> LaunchAgent:
    backend = backend_for(
        headless=headless, config_file=config_file, platform="darwin", runner=launchctl
    )
    assert isinstance(backend, LaunchAgent)
    return backend


@pytest.fixture
def launchctl() -> FakeLaunchctl:
    return FakeLaunchctl()


def test_install_writes_a_plist_with_the_expected_keys(
    config_file: Path, launcher: Path, launchctl: FakeLaunchctl, isolated_home: Path
) -> None:
    plan = agent(launchctl).install()

    path = isolated_home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    assert [f.path for f in plan.files] == [path]
    with path.open("rb") as handle:
        loaded = plistlib.load(handle)
    assert loaded == {
        "Label": LABEL,
        "ProgramArguments": [str(launcher), "run", "--config", str(config_file)],
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Interactive",
        "ExitTimeOut": 30,
        "EnvironmentVariables": {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        "StandardOutPath": str(log_dir() / "launchd.log"),
        "StandardErrorPath": str(log_dir() / "launchd.log"),
    }
    # It round-trips: what plistlib writes back is what install wrote (bar our comment).
    assert plistlib.dumps(loaded, sort_keys=False).decode() == "".join(
        line for line in path.read_text().splitlines(keepends=True) if "<!--" not in line
    )
    uid = os.getuid()
    assert plan.commands == (
        ("launchctl", "enable", f"gui/{uid}/{LABEL}"),
        ("launchctl", "bootstrap", f"gui/{uid}", str(path)),
    )
    assert log_dir().is_dir()  # launchd cannot open StandardErrorPath in a missing folder
    assert LABEL in launchctl.loaded


def test_headless_adds_the_flag_and_a_standard_process_type(
    config_file: Path, launchctl: FakeLaunchctl
) -> None:
    backend = agent(launchctl, headless=True)
    backend.install()
    loaded = plistlib.loads(backend.path.read_bytes())
    assert loaded["ProgramArguments"][1:3] == ["run", "--headless"]
    assert loaded["ProcessType"] == "Standard"


def test_install_is_idempotent_and_reloads_on_change(
    config_file: Path, launchctl: FakeLaunchctl, isolated_home: Path, tmp_path: Path
) -> None:
    agent(launchctl).install()
    before = files_under(isolated_home)

    assert agent(launchctl).install().empty
    assert files_under(isolated_home) == before

    other = tmp_path / "other.toml"
    other.write_text("")
    plan = agent(launchctl, other).install()
    uid = os.getuid()
    assert plan.commands == (
        ("launchctl", "bootout", f"gui/{uid}/{LABEL}"),
        ("launchctl", "enable", f"gui/{uid}/{LABEL}"),
        ("launchctl", "bootstrap", f"gui/{uid}", str(plan.files[0].path)),
    )
    assert str(other) in launchctl.loaded[LABEL]


def test_install_loads_an_agent_that_is_on_disk_but_not_loaded(
    config_file: Path, launchctl: FakeLaunchctl
) -> None:
    agent(launchctl).install()
    launchctl.loaded.clear()  # e.g. booted out by hand
    launchctl.disabled.add(LABEL)  # and switched off

    plan = agent(launchctl).install()

    assert plan.files == ()
    assert [c[1] for c in plan.commands] == ["enable", "bootstrap"]
    assert LABEL in launchctl.loaded


def test_uninstall_boots_out_and_removes_exactly_the_plist(
    config_file: Path, launchctl: FakeLaunchctl, isolated_home: Path
) -> None:
    backend = agent(launchctl)
    backend.install()
    before = files_under(isolated_home)

    plan = backend.uninstall()

    assert plan.commands == (("launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"),)
    assert plan.removed == (backend.path,)
    assert set(before) - set(files_under(isolated_home)) == {backend.path}
    assert launchctl.loaded == {}
    assert backend.uninstall().empty


def test_status_reads_launchctl(config_file: Path, launchctl: FakeLaunchctl) -> None:
    backend = agent(launchctl)
    assert backend.status().installed is False
    backend.install()

    status = backend.status()
    assert (status.installed, status.enabled, status.running) == (True, True, True)
    assert "state = running, pid 4242" in status.detail
    assert "launchd.log" in status.log_hint

    launchctl.disabled.add(LABEL)
    launchctl.loaded.clear()
    status = backend.status()
    assert (status.enabled, status.running) == (False, False)
    assert "Could not find service" in status.detail


def test_launchctl_errors_are_shown_with_what_was_done(
    config_file: Path, launchctl: FakeLaunchctl
) -> None:
    launchctl.fail["bootstrap"] = "Bootstrap failed: 5: Input/output error"
    backend = agent(launchctl)

    with pytest.raises(ServiceCommandError) as caught:
        backend.install()

    text = caught.value.describe()
    assert f"'launchctl bootstrap gui/{os.getuid()} {backend.path}' failed with exit code 5" in text
    assert "Bootstrap failed: 5: Input/output error" in text
    assert f"wrote {backend.path}" in text  # already done, and said so
    assert "floradrop service status" in text  # what to look at next
    assert LABEL not in launchctl.loaded
