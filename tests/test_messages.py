"""Every ``floradrop …`` command that a message, a hint, the README or the example config tells
a person to run exists: the verb, and the action of a verb that has actions."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from floradrop.cli import build_parser

ROOT = Path(__file__).parents[1]
# A command quoted for a person: `floradrop …` or 'floradrop …' (double quotes are prose).
QUOTED = re.compile(r"""[`']floradrop((?: [a-z][a-z-]*)+)( \{)?""")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def named_commands() -> dict[str, list[str]]:
    """Each quoted command (its words) -> where it is named."""
    found: dict[str, list[str]] = {}
    files = [*sorted((ROOT / "src").rglob("*.py")), ROOT / "README.md"]
    files += sorted((ROOT / "config").glob("*.toml"))
    files += sorted((ROOT / "packaging").rglob("*.md"))
    for file in files:
        for n, line in enumerate(file.read_text("utf-8").splitlines(), 1):
            for match in QUOTED.finditer(line):
                words = match.group(1).strip() + (" {}" if match.group(2) else "")
                found.setdefault(words, []).append(f"{file.relative_to(ROOT)}:{n}")
    return found


def test_the_scan_finds_the_commands_messages_name() -> None:
    named = named_commands()
    assert len(named) >= 15, sorted(named)
    assert any(words.startswith("techniques list") for words in named)
    assert any(words.startswith("service install") for words in named)


def test_every_command_a_message_names_exists() -> None:
    verbs = _subcommands(build_parser())
    missing: list[str] = []
    for words, where in sorted(named_commands().items()):
        verb, *rest = words.split()
        if verb not in verbs:
            missing.append(f"floradrop {words} ({', '.join(where)})")
            continue
        actions = _subcommands(verbs[verb])
        if actions and rest[:1] == ["{}"]:  # f"'floradrop service {plan.action}'"
            continue
        if actions and (not rest or rest[0] not in actions):
            missing.append(f"floradrop {words}: needs one of {sorted(actions)} ({where[0]})")
    assert not missing, "messages name commands that do not exist:\n" + "\n".join(missing)
