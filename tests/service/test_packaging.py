"""packaging/: the templates packagers use say what `floradrop service install` writes."""

from __future__ import annotations

import plistlib
import re
from pathlib import Path

from floradrop.service.launchd import launch_agent
from floradrop.service.systemd import systemd_unit
from floradrop.service.xdg import desktop_entry
from tests.service.tools import desktop_validate, systemd_verify

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def without_comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_the_systemd_template_is_the_generated_unit(
    launcher: Path, tmp_path: Path, runtime_dir: Path
) -> None:
    template = (PACKAGING / "floradrop.service").read_text()
    generated = systemd_unit(["/usr/bin/floradrop", "run", "--headless"])
    assert without_comments(template) == without_comments(generated)

    # It passes systemd-analyze once its ExecStart names a program that exists here.
    unit = tmp_path / "floradrop.service"
    unit.write_text(template.replace("/usr/bin/floradrop", str(launcher)))
    result = systemd_verify(unit, runtime_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_desktop_template_is_the_generated_entry() -> None:
    template = PACKAGING / "floradrop.desktop"
    generated = desktop_entry(["/usr/bin/floradrop", "run"])
    assert without_comments(template.read_text()) == without_comments(generated)
    result = desktop_validate(template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_launch_agent_template_is_the_generated_agent() -> None:
    template = (PACKAGING / "ai.floradrop.agent.plist").read_bytes()
    generated = launch_agent(["/usr/local/bin/floradrop", "run"], headless=False, output=None)
    assert plistlib.loads(template) == plistlib.loads(generated.encode())


def test_the_pyinstaller_spec_names_its_entry_script() -> None:
    spec = (PACKAGING / "floradrop.spec").read_text()
    scripts = re.findall(r'"packaging" / "pyinstaller" / "([^"]+)"', spec)
    assert scripts == ["floradrop_entry.py"]
    assert (PACKAGING / "pyinstaller" / scripts[0]).is_file()
    assert 'collect_submodules("floradrop")' in spec  # the verbs are imported by name
