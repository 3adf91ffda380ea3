"""Windows: the HKCU Run value, against a fake registry (winreg exists only on Windows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from floradrop.service import ServiceError, backend_for
from floradrop.service.windows import (
    APPROVED_KEY,
    RUN_KEY,
    VALUE_NAME,
    WindowsRunEntry,
    command_line,
    default_registry,
)
from tests.service.fakes import FakeRegistry, no_commands


@pytest.fixture
def gui_launcher(tmp_path: Path) -> Path:
    path = tmp_path / "Program Files" / "floradrop" / "floradrop-gui.exe"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"MZ")
    return path


def run_entry(
    registry: FakeRegistry,
    launcher: Path,
    config_file: Path | None = None,
    *,
    headless: bool = False,
) -> WindowsRunEntry:
    backend = backend_for(
        headless=headless,
        config_file=config_file,
        platform="win32",
        runner=no_commands,
        registry=registry,
        launcher=launcher,
    )
    assert isinstance(backend, WindowsRunEntry)
    return backend


def test_install_sets_the_run_value_to_the_console_less_launcher(
    config_file: Path, gui_launcher: Path
) -> None:
    registry = FakeRegistry()

    plan = run_entry(registry, gui_launcher).install()

    expected = f'"{gui_launcher}" --config {config_file}'
    assert registry.values == {(RUN_KEY, VALUE_NAME): expected}
    assert RUN_KEY == r"Software\Microsoft\Windows\CurrentVersion\Run"
    assert plan.files == () and plan.commands == ()
    assert any("next sign-in" in note for note in plan.notes)


def test_headless_passes_the_flag(config_file: Path, gui_launcher: Path) -> None:
    registry = FakeRegistry()
    run_entry(registry, gui_launcher, headless=True).install()
    assert registry.values[(RUN_KEY, VALUE_NAME)].startswith(f'"{gui_launcher}" --headless ')


def test_the_command_line_quotes_for_windows() -> None:
    assert command_line(
        [r"C:\Program Files\fd\floradrop-gui.exe", "--config", r"C:\My Docs\c.toml"]
    ) == (r'"C:\Program Files\fd\floradrop-gui.exe" --config "C:\My Docs\c.toml"')
    # The program is quoted even without spaces; quotes in arguments are escaped.
    assert command_line([r"C:\fd\floradrop-gui.exe", 'say "hi"']) == (
        r'"C:\fd\floradrop-gui.exe" "say \"hi\""'
    )


def test_install_is_idempotent_and_uninstall_removes_only_its_value(
    config_file: Path, gui_launcher: Path
) -> None:
    registry = FakeRegistry()
    registry.values[(RUN_KEY, "SomethingElse")] = r"C:\other.exe"
    backend = run_entry(registry, gui_launcher)
    backend.install()

    assert backend.install().empty

    plan = backend.uninstall()
    assert registry.values == {(RUN_KEY, "SomethingElse"): r"C:\other.exe"}
    assert any("keeps running" in note for note in plan.notes)
    assert backend.uninstall().empty


def test_status_reads_task_managers_switch(config_file: Path, gui_launcher: Path) -> None:
    registry = FakeRegistry()
    backend = run_entry(registry, gui_launcher)
    assert backend.status().installed is False
    backend.install()

    status = backend.status()
    assert (status.installed, status.enabled, status.running) == (True, True, False)
    assert backend.location in status.detail

    registry.values[(APPROVED_KEY, VALUE_NAME)] = bytes([3]) + bytes(11)  # switched off
    assert backend.status().enabled is False
    assert backend.plan_install().empty  # the value is right: Task Manager's switch is the person's
    registry.values[(APPROVED_KEY, VALUE_NAME)] = bytes([2]) + bytes(11)  # switched on again
    assert backend.status().enabled is True


def test_a_switched_off_entry_is_mentioned_on_install(
    config_file: Path, gui_launcher: Path
) -> None:
    registry = FakeRegistry()
    registry.values[(APPROVED_KEY, VALUE_NAME)] = bytes([3]) + bytes(11)
    plan = run_entry(registry, gui_launcher).plan_install()
    assert any("Task Manager" in note for note in plan.notes)


def test_the_real_registry_exists_only_on_windows() -> None:
    with pytest.raises(ServiceError, match="only on Windows"):
        default_registry()
