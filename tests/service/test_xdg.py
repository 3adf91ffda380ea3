"""The Linux tray entry: $XDG_CONFIG_HOME/autostart/floradrop.desktop."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from floradrop.service import ServiceError, backend_for
from floradrop.service.xdg import XdgAutostart, desktop_entry, exec_argument
from tests.service.fakes import no_commands
from tests.service.tools import desktop_validate, files_under

AWKWARD = [
    "plain",
    "with space",
    'double"quote',
    "single'quote",
    "back\\slash",
    "dollar$HOME",
    "percent%u",
    "back`tick",
    "semi;colon&amp",
    "",
    "ünïcödé",
]


def tray(config_file: Path | None = None) -> XdgAutostart:
    backend = backend_for(
        headless=False, config_file=config_file, platform="linux", runner=no_commands
    )
    assert isinstance(backend, XdgAutostart)
    return backend


def glib_exec_argv(entry: Path) -> list[str]:
    """How GLib (GNOME, Xfce, ... ) turns the Exec key into argv: the reference reader."""
    if importlib.util.find_spec("gi") is None:
        pytest.skip("PyGObject is not installed (the tray extra); CI installs it")
    import gi

    gi.require_version("GLib", "2.0")
    from gi.repository import GLib

    keyfile = GLib.KeyFile()
    keyfile.load_from_file(str(entry), GLib.KeyFileFlags.NONE)
    line = keyfile.get_string("Desktop Entry", "Exec")
    _ok, argv = GLib.shell_parse_argv(line)
    return [arg.replace("%%", "%") for arg in argv]  # field-code expansion of %%


def test_install_writes_a_valid_entry_that_runs_the_venv_launcher(
    config_file: Path, launcher: Path, isolated_home: Path
) -> None:
    plan = tray().install()

    entry = isolated_home / ".config" / "autostart" / "floradrop.desktop"
    assert [f.path for f in plan.files] == [entry]
    assert plan.commands == ()
    result = desktop_validate(entry)
    assert result.returncode == 0, result.stdout + result.stderr
    assert glib_exec_argv(entry) == [str(launcher), "run", "--config", str(config_file)]
    text = entry.read_text()
    assert f"TryExec={launcher}\n" in text
    assert "X-GNOME-Autostart-enabled=true\n" in text
    assert "Terminal=false\n" in text


def test_awkward_paths_survive_the_exec_quoting(tmp_path: Path) -> None:
    launcher = tmp_path / "dir with space" / "flora%drop"
    argv = [str(launcher), "run", *AWKWARD]
    entry = tmp_path / "floradrop.desktop"
    entry.write_text(desktop_entry(argv))

    result = desktop_validate(entry)
    assert result.returncode == 0, result.stdout + result.stderr
    assert glib_exec_argv(entry) == argv


def test_exec_quoting_follows_the_spec_examples() -> None:
    assert exec_argument("plain") == "plain"
    assert exec_argument("a b") == '"a b"'
    assert exec_argument("50%") == "50%%"
    assert exec_argument('say "hi" $x `y` \\z') == '"say \\"hi\\" \\$x \\`y\\` \\\\z"'
    # ...and the string escape doubles backslashes again: four for one literal backslash.
    assert 'Exec=/x/floradrop run "a\\\\\\\\b c"\n' in desktop_entry(
        ["/x/floradrop", "run", "a\\b c"]
    )


def test_install_is_idempotent(config_file: Path, isolated_home: Path) -> None:
    backend = tray()
    assert not backend.plan_install().empty
    backend.install()
    before = files_under(isolated_home)

    again = backend.install()

    assert again.empty
    assert files_under(isolated_home) == before


def test_a_new_config_rewrites_the_entry(config_file: Path, tmp_path: Path) -> None:
    tray().install()
    other = tmp_path / "other.toml"
    other.write_text("")

    plan = tray(other).install()

    assert len(plan.files) == 1
    assert f"--config {other}" in plan.files[0].path.read_text()


def test_print_plan_writes_nothing(config_file: Path, isolated_home: Path) -> None:
    before = files_under(isolated_home)
    plan = tray().plan_install()
    assert plan.files and not plan.files[0].path.exists()
    assert files_under(isolated_home) == before


def test_uninstall_removes_exactly_the_entry(config_file: Path, isolated_home: Path) -> None:
    before = files_under(isolated_home)
    backend = tray()
    backend.install()

    plan = backend.uninstall()

    assert plan.removed == (backend.path,)
    # The autostart folder install created may stay; no file install wrote does.
    assert files_under(isolated_home) == before
    assert backend.uninstall().empty


def test_status_follows_the_desktop_switch(config_file: Path) -> None:
    backend = tray()
    assert backend.status().installed is False
    backend.install()
    status = backend.status()
    assert (status.installed, status.enabled, status.running) == (True, True, False)
    assert status.files == (backend.path,)
    assert status.log_hint.endswith("floradrop.log")

    # GNOME's "Startup Applications" switch writes this into the entry.
    text = backend.path.read_text().replace(
        "X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false"
    )
    backend.path.write_text(text)
    assert backend.status().enabled is False
    backend.path.write_text(text.replace("[Desktop Entry]\n", "[Desktop Entry]\nHidden=true\n"))
    status = backend.status()
    assert status.enabled is False
    assert "Hidden=true" in status.detail


def test_a_missing_config_is_refused_before_anything_is_written(isolated_home: Path) -> None:
    from floradrop.errors import ConfigError

    with pytest.raises(ConfigError, match="no config file at") as caught:
        tray().install()
    assert "floradrop init" in (caught.value.hint or "")
    assert files_under(isolated_home) == {}


def test_the_tray_entry_is_refused_while_the_headless_unit_is_installed(config_file: Path) -> None:
    unit = backend_for(headless=True, config_file=None, platform="linux", runner=no_commands)
    unit_path = Path(unit.location)
    unit_path.parent.mkdir(parents=True)
    unit_path.write_text("[Service]\n")

    with pytest.raises(ServiceError, match="already starts at login") as caught:
        tray().plan_install()
    assert "floradrop service uninstall" in (caught.value.hint or "")
