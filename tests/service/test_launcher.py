"""Finding the absolute launcher and config path that a login entry names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from floradrop.service import ServiceError, backend_for
from floradrop.service.launcher import find_launcher, resolve_config


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_venv_launcher_next_to_the_interpreter_is_found() -> None:
    found = find_launcher()
    assert found == Path(sys.executable).parent / "floradrop"  # not resolved out of the venv
    assert found.is_absolute()


def test_a_pyinstaller_build_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = executable(tmp_path / "dist" / "floradrop" / "floradrop")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert find_launcher() == exe

    gui = executable(exe.with_name("floradrop-gui.exe"))
    assert find_launcher(gui=True, platform="win32") == gui


def test_the_running_launcher_comes_before_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = executable(tmp_path / "user" / "bin" / "floradrop")
    executable(tmp_path / "elsewhere" / "floradrop")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-venv" / "python3"))
    monkeypatch.setattr(sys, "argv", [str(running), "service", "install"])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert find_launcher() == running

    monkeypatch.setattr(sys, "argv", ["-c"])
    assert find_launcher() == tmp_path / "elsewhere" / "floradrop"


def test_no_launcher_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-venv" / "python3"))
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError, match="cannot find the 'floradrop' launcher") as caught:
        find_launcher()
    assert str(tmp_path / "no-venv" / "floradrop") in caught.value.message
    assert "pipx install floradrop" in (caught.value.hint or "")


def test_config_precedence_and_absoluteness(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_config(None) == isolated_home / ".config" / "floradrop" / "config.toml"
    monkeypatch.setenv("FLORADROP_CONFIG", str(tmp_path / "env.toml"))
    assert resolve_config(None) == tmp_path / "env.toml"
    monkeypatch.chdir(tmp_path)
    assert resolve_config(Path("sub/../given.toml")) == tmp_path / "given.toml"
    assert resolve_config(Path("~/c.toml")) == isolated_home / "c.toml"


def test_a_symlinked_config_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "floradrop.toml"
    target.parent.mkdir()
    target.write_text("")
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    assert resolve_config(link) == link


def test_control_characters_in_a_path_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "new\nline.toml"
    config.write_text("")
    backend = backend_for(headless=False, config_file=config, platform="linux")
    with pytest.raises(ServiceError, match="control characters"):
        backend.plan_install()
