"""The README's examples are real: its TOML snippets load, and it documents every verb."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from floradrop.cli import COMMANDS
from floradrop.config import parse_config

README = Path(__file__).parents[1] / "README.md"


def test_readme_toml_snippets_load_as_configs(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text("utf-8"), flags=re.S)
    assert blocks, "the README shows at least one config snippet"
    for block in blocks:
        config = parse_config(tomllib.loads(block), source=tmp_path / "config.toml")
        assert config.folders


def test_readme_documents_every_command() -> None:
    text = README.read_text("utf-8")
    for verb in COMMANDS:
        assert f"`floradrop {verb}" in text, f"the README does not mention `floradrop {verb}`"


def _sh_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text("utf-8"), flags=re.S)
    return [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]


def test_readme_shell_examples_name_real_commands_files_and_versions() -> None:
    import shlex

    from floradrop import __version__
    from floradrop.cli import build_parser

    lines = _sh_lines()
    parser = build_parser()
    commands = [line for line in lines if line.startswith("floradrop ")]
    assert commands, "the README shows floradrop commands"
    for line in commands:
        parser.parse_args(shlex.split(line)[1:])  # exits 2 on a command that does not parse
    root = README.parent
    for line in lines:
        for script in re.findall(r"python3 (scripts/\S+\.py)", line):
            assert (root / script).is_file(), script
    wheels = [
        w for line in lines for w in re.findall(r"floradrop-([\d.]+)-py3-none-any\.whl", line)
    ]
    assert wheels == [__version__], "the wheel name in Install matches the version"
    assert any(line.startswith("pipx install .") for line in lines)
    assert any("uv tool install ." in line for line in README.read_text("utf-8").splitlines())
