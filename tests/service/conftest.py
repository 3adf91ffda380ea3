"""Fixtures for the login-service tests (HOME and XDG dirs are temporary: ../conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from floradrop.service.launcher import find_launcher


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
    """A config file at the default location (its content is not the service's business)."""
    path = isolated_home / ".config" / "floradrop" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("# floradrop config\n")
    return path


@pytest.fixture
def launcher() -> Path:
    """The real ``floradrop`` launcher of the venv running the tests."""
    return find_launcher()


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """``systemd-analyze verify --user`` needs XDG_RUNTIME_DIR to be an existing 0700 dir."""
    path = tmp_path / "runtime"
    path.mkdir(mode=0o700)
    path.chmod(0o700)
    return path


def no_user_manager() -> bool:
    try:
        probe = subprocess.run(
            ["systemctl", "--user", "show-environment"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.skip("systemctl is not installed (apt-get install systemd); CI has it")
    return probe.returncode != 0 and "Failed to connect to bus" in probe.stderr


@pytest.fixture
def real_systemctl_without_manager() -> None:
    """The real systemctl, where it cannot reach a user manager (containers, CI)."""
    if not no_user_manager():
        pytest.skip("a systemd user manager runs here; these tests check life without one")
