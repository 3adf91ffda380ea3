"""The Linux headless service: $XDG_CONFIG_HOME/systemd/user/floradrop.service."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from floradrop.errors import ExitCode
from floradrop.service import ServiceCommandError, ServiceError, backend_for
from floradrop.service.commands import CommandResult, run_command
from floradrop.service.systemd import SystemdUserService, linger_note, systemd_unit
from tests.service.fakes import FakeSystemctl
from tests.service.tools import files_under, systemd_verify


def headless(runner: object, config_file: Path | None = None) -> SystemdUserService:
    backend = backend_for(headless=True, config_file=config_file, platform="linux", runner=runner)  # type: ignore[arg-type]
    assert isinstance(backend, SystemdUserService)
    return backend


@pytest.fixture
def systemctl(isolated_home: Path) -> FakeSystemctl:
    return FakeSystemctl(isolated_home / ".config" / "systemd" / "user")


def parse_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(path.read_text())
    return unit


def test_install_writes_a_unit_that_systemd_accepts(
    config_file: Path, launcher: Path, systemctl: FakeSystemctl, runtime_dir: Path
) -> None:
    plan = headless(systemctl).install()

    unit_path = systemctl.unit_dir / "floradrop.service"
    assert [f.path for f in plan.files] == [unit_path]
    result = systemd_verify(unit_path, runtime_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    service = parse_unit(unit_path)["Service"]
    assert service["ExecStart"] == f"{launcher} run --headless --config {config_file}"
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["RestartPreventExitStatus"].split() == [
        str(int(code))
        for code in (ExitCode.USAGE, ExitCode.CONFIG, ExitCode.AUTH, ExitCode.ALREADY_RUNNING)
    ]
    assert parse_unit(unit_path)["Install"]["WantedBy"] == "default.target"
    assert plan.commands == (
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "--now", "floradrop.service"),
    )
    assert systemctl.enabled and systemctl.active
    assert systemctl.started_with == unit_path.read_text()


def test_the_linger_note_is_given_unless_lingering_is_on(tmp_path: Path) -> None:
    assert linger_note("ada", tmp_path) == (
        "the service runs while you are logged in. To start it at boot and keep it running "
        "after you log out, run once: loginctl enable-linger ada"
    )
    (tmp_path / "ada").touch()
    assert linger_note("ada", tmp_path) == ""


def test_awkward_paths_pass_systemd_verify(
    tmp_path: Path, launcher: Path, runtime_dir: Path
) -> None:
    # systemd-analyze checks that ExecStart's program exists, so give it an awkward real one.
    odd = tmp_path / "dir with space" / "flora%drop $x;"
    odd.parent.mkdir()
    odd.symlink_to(launcher)
    unit_path = tmp_path / "floradrop.service"
    unit_path.write_text(
        systemd_unit([str(odd), "run", "--config", '/c/my config%1 $HOME \\ ".toml'])
    )

    result = systemd_verify(unit_path, runtime_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    exec_start = parse_unit(unit_path)["Service"]["ExecStart"]
    assert exec_start == (
        f'"{tmp_path}/dir with space/flora%%drop $x;" run --config '
        '"/c/my config%%1 $$HOME \\\\ \\".toml"'
    )


def test_a_missing_launcher_fails_verification(tmp_path: Path, runtime_dir: Path) -> None:
    """The check above can fail: systemd-analyze really looks at ExecStart."""
    unit_path = tmp_path / "floradrop.service"
    unit_path.write_text(systemd_unit([str(tmp_path / "nope"), "run"]))
    result = systemd_verify(unit_path, runtime_dir)
    assert result.returncode != 0
    assert "nope" in result.stdout + result.stderr


def test_install_is_idempotent(
    config_file: Path, systemctl: FakeSystemctl, isolated_home: Path
) -> None:
    headless(systemctl).install()
    before = files_under(isolated_home)
    systemctl.calls.clear()

    again = headless(systemctl).install()

    assert again.empty
    assert files_under(isolated_home) == before
    # Only read-only questions were asked.
    assert systemctl.calls == [
        ("systemctl", "--user", "is-enabled", "floradrop.service"),
        ("systemctl", "--user", "is-active", "floradrop.service"),
    ]


def test_install_again_enables_and_starts_what_was_switched_off(
    config_file: Path, systemctl: FakeSystemctl
) -> None:
    headless(systemctl).install()
    systemctl.enabled = systemctl.active = False

    plan = headless(systemctl).install()

    assert plan.files == ()
    assert plan.commands == (
        ("systemctl", "--user", "enable", "floradrop.service"),
        ("systemctl", "--user", "start", "floradrop.service"),
    )
    assert systemctl.enabled and systemctl.active


def test_a_new_config_reloads_and_restarts_the_daemon(
    config_file: Path, systemctl: FakeSystemctl, tmp_path: Path
) -> None:
    headless(systemctl).install()
    other = tmp_path / "other.toml"
    other.write_text("")

    plan = headless(systemctl, other).install()

    assert plan.commands == (
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "floradrop.service"),
        ("systemctl", "--user", "restart", "floradrop.service"),
    )
    assert systemctl.started_with is not None
    assert f"--config {other}" in systemctl.started_with


def test_uninstall_removes_exactly_what_install_created(
    config_file: Path, systemctl: FakeSystemctl, isolated_home: Path
) -> None:
    before = files_under(isolated_home)
    backend = headless(systemctl)
    backend.install()

    plan = backend.uninstall()

    assert plan.commands == (
        ("systemctl", "--user", "disable", "--now", "floradrop.service"),
        ("systemctl", "--user", "daemon-reload"),
    )
    assert plan.removed == (backend.path,)
    assert files_under(isolated_home) == before
    assert not systemctl.active and not systemctl.enabled and systemctl.loaded is None
    assert backend.uninstall().empty


def test_status_asks_systemd(config_file: Path, systemctl: FakeSystemctl) -> None:
    backend = headless(systemctl)
    assert backend.status().installed is False
    backend.install()
    status = backend.status()
    assert (status.installed, status.enabled, status.running) == (True, True, True)
    assert "journalctl --user -u floradrop.service" in status.log_hint
    systemctl.active = False
    assert backend.status().running is False


def test_a_failing_command_is_shown_with_what_was_already_done(
    config_file: Path, systemctl: FakeSystemctl
) -> None:
    systemctl.fail["enable"] = CommandResult(
        ("systemctl", "--user", "enable", "--now", "floradrop.service"),
        1,
        "",
        "Job for floradrop.service failed because the control process exited with error code.",
    )
    with pytest.raises(ServiceCommandError) as caught:
        headless(systemctl).install()
    text = caught.value.describe()
    assert "'systemctl --user enable --now floradrop.service' failed with exit code 1" in text
    assert "Job for floradrop.service failed because the control process" in text
    assert "Already done before this failure:" in text
    assert "wrote " + str(systemctl.unit_dir / "floradrop.service") in text
    assert "journalctl --user -u floradrop.service" in text


def test_without_a_user_manager_the_real_error_is_shown_and_explained(
    config_file: Path, real_systemctl_without_manager: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = headless(run_command)

    with pytest.raises(ServiceCommandError) as caught:
        backend.install()

    text = caught.value.describe()
    assert "'systemctl --user daemon-reload' failed with exit code 1" in text
    assert "Failed to connect to bus" in text  # systemctl's own words
    assert "could not reach your systemd user manager" in text
    assert f"wrote {backend.path}" in text

    # status says what it can (systemctl answers is-enabled from the files) and why not more.
    status = backend.status()
    assert (status.installed, status.enabled, status.running) == (True, False, None)
    assert "is-enabled: disabled" in status.detail
    assert "Failed to connect to bus" in status.detail

    # uninstall cannot stop anything either; it says so and what to delete by hand.
    with pytest.raises(ServiceCommandError) as caught:
        backend.uninstall()
    assert f"delete {backend.path} yourself" in (caught.value.hint or "")


def test_headless_needs_linux() -> None:
    with pytest.raises(ServiceError, match="uses systemd"):
        backend_for(headless=True, config_file=None, platform="freebsd14")


def test_without_systemctl_install_says_so_and_status_still_answers(
    config_file: Path, systemctl: FakeSystemctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headless(systemctl).install()
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemctl on PATH

    status = headless(run_command).status()
    assert status.installed is True and status.enabled is None
    assert "'systemctl' was not found" in status.detail
    systemctl_gone = headless(run_command, tmp_path / "other.toml")
    (tmp_path / "other.toml").write_text("")
    with pytest.raises(ServiceError, match="'systemctl' was not found") as caught:
        systemctl_gone.install()
    assert "does not use systemd" in (caught.value.hint or "")
