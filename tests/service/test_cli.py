"""``floradrop service install | uninstall | status`` as a person runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from floradrop.cli import main
from floradrop.errors import ExitCode
from floradrop.service import is_installed
from tests.service.tools import files_under


def test_install_print_shows_everything_and_does_nothing(
    config_file: Path, launcher: Path, isolated_home: Path
) -> None:
    before = files_under(isolated_home)

    done = subprocess.run(
        [str(launcher), "service", "install", "--headless", "--print"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    unit = isolated_home / ".config" / "systemd" / "user" / "floradrop.service"
    assert f"would write {unit} (mode 0644)" in done.stdout
    assert f"    | ExecStart={launcher} run --headless --config {config_file}" in done.stdout
    assert "would run: systemctl --user daemon-reload" in done.stdout
    assert "would run: systemctl --user enable --now floradrop.service" in done.stdout
    assert "loginctl enable-linger" in done.stdout
    assert files_under(isolated_home) == before


def test_install_status_uninstall_round_trip(
    config_file: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = isolated_home / ".config" / "autostart" / "floradrop.desktop"

    assert main(["service", "install"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.startswith("Installed: XDG autostart entry")
    assert f"wrote {entry}" in out
    assert is_installed() is True

    assert main(["service", "install"]) == ExitCode.OK
    assert capsys.readouterr().out.startswith("Already installed and up to date: XDG autostart")

    assert main(["service", "status", "--json"]) == ExitCode.OK
    statuses = {s["kind"]: s for s in json.loads(capsys.readouterr().out)}
    assert statuses["xdg-autostart"]["installed"] is True
    assert statuses["xdg-autostart"]["files"] == [str(entry)]
    assert statuses["systemd-user"]["installed"] is False

    assert main(["service", "status"]) == ExitCode.OK
    text = capsys.readouterr().out
    assert "  installed: yes" in text and "  running:   no" in text

    assert main(["service", "uninstall", "--print"]) == ExitCode.OK
    assert f"would remove {entry}" in capsys.readouterr().out
    assert entry.exists()

    assert main(["service", "uninstall"]) == ExitCode.OK
    assert f"removed {entry}" in capsys.readouterr().out
    assert not entry.exists()
    assert is_installed() is False

    assert main(["service", "uninstall"]) == ExitCode.OK
    assert "nothing to remove" in capsys.readouterr().out


def test_install_uses_floradrop_config_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("")
    monkeypatch.setenv("FLORADROP_CONFIG", str(config))
    assert main(["service", "install", "--print"]) == ExitCode.OK
    assert f"run --config {config}" in capsys.readouterr().out


def test_a_missing_config_exits_with_the_config_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "install"]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "Configuration error: there is no config file at" in err
    assert "What to do: create it with 'floradrop init'" in err


def test_switching_kinds_needs_an_uninstall_first(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["service", "install"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["service", "install", "--headless"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert "floradrop already starts at login through another entry: XDG autostart" in err
    assert "run 'floradrop service uninstall' first" in err


def test_headless_install_without_systemd_shows_systemctls_error(
    config_file: Path, real_systemctl_without_manager: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["service", "install", "--headless"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert "Login service error: 'systemctl --user daemon-reload' failed with exit code 1:" in err
    assert "Failed to connect to bus" in err
    assert "What to do: 'systemctl --user' could not reach your systemd user manager" in err


def test_is_installed_is_per_platform(config_file: Path) -> None:
    assert is_installed("linux") is False
    assert main(["service", "install"]) == ExitCode.OK
    assert is_installed("linux") is True
    assert is_installed("darwin") is False
    assert is_installed("sunos5") is None


def test_print_shows_the_plan_even_when_installed_and_every_action_takes_config(
    config_file: Path, tmp_path: Path, launcher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = config_file.parents[1] / "autostart" / "floradrop.desktop"
    assert main(["service", "install", "--config", str(config_file)]) == ExitCode.OK
    capsys.readouterr()

    assert main(["service", "install", "--print", "--config", str(config_file)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "Already installed and up to date: install would change nothing." in out
    assert f"It starts: {launcher} run --config {config_file}" in out
    assert f"{entry}:" in out and f"    | Exec={launcher} run --config {config_file}" in out

    assert main(["service", "status", "--config", str(config_file)]) == ExitCode.OK
    assert f"  uses {config_file}: yes" in capsys.readouterr().out
    other = tmp_path / "other.toml"
    assert main(["service", "status", "--json", "--config", str(other)]) == ExitCode.OK
    statuses = {s["kind"]: s for s in json.loads(capsys.readouterr().out)}
    assert statuses["xdg-autostart"]["uses_config"] is False
    assert "uses_config" not in statuses["systemd-user"]  # not installed: nothing to say

    assert main(["service", "uninstall", "--config", str(config_file)]) == ExitCode.OK
    assert not entry.exists()


def test_status_json_says_whether_a_login_entry_is_installed(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file.write_text(
        f"[daemon]\nstate_dir = {str(tmp_path / 'state')!r}\n"
        f"log_dir = {str(tmp_path / 'logs')!r}\n",
        encoding="utf-8",
    )

    def installed() -> object:
        assert main(["status", "--json"]) == ExitCode.OK
        return json.loads(capsys.readouterr().out)["service_installed"]

    assert installed() is False
    assert main(["service", "install"]) == ExitCode.OK
    capsys.readouterr()
    assert installed() is True
    assert main(["service", "uninstall"]) == ExitCode.OK
    capsys.readouterr()
    assert installed() is False
