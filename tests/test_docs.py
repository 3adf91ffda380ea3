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
