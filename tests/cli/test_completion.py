"""``floradrop completion SHELL``: the scripts complete floradrop's real commands in real
shells (bash and fish run the completion; zsh checks the script's syntax)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from floradrop.cli import COMMANDS

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shells")


def script(shell: str, tmp_path: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "floradrop", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = tmp_path / f"floradrop.{shell}"
    path.write_text(result.stdout, "utf-8")
    return path


def shell(argv: list[str]) -> list[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")


BASH = """source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE="{line}";
COMP_POINT=${{#COMP_LINE}}; _shtab_floradrop; printf '%s\\n' "${{COMPREPLY[@]}}" """


def bash_complete(path: Path, line: str) -> set[str]:
    words = line.split() + ([""] if line.endswith(" ") else [])
    quoted = " ".join(f'"{w}"' for w in words)
    code = BASH.format(script=path, words=quoted, cword=len(words) - 1, line=line)
    return {w for w in shell(["bash", "-c", code]) if w}


def test_bash_completes_commands_actions_and_options(tmp_path: Path) -> None:
    path = script("bash", tmp_path)
    assert bash_complete(path, "floradrop st") == {"status", "stop"}
    assert bash_complete(path, "floradrop ") >= set(COMMANDS)
    assert bash_complete(path, "floradrop service ") == {"install", "uninstall", "status"}
    assert "--once" in bash_complete(path, "floradrop run --")


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (CI has it)")
def test_fish_completes_commands_actions_and_options(tmp_path: Path) -> None:
    path = script("fish", tmp_path)

    def complete(line: str) -> set[str]:
        out = shell(["fish", "-c", f"source {path}; complete -C '{line}'"])
        return {row.split("\t")[0] for row in out if row}

    assert complete("floradrop st") == {"status", "stop"}
    assert complete("floradrop ") >= set(COMMANDS)
    assert complete("floradrop techniques ") == {"list", "show"}
    assert {"--once", "--json", "--quiet", "--config"} <= complete("floradrop run --")
    assert complete("floradrop completion ") == {"bash", "zsh", "tcsh", "fish"}


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (CI has it)")
def test_zsh_script_is_valid_and_knows_every_command(tmp_path: Path) -> None:
    path = script("zsh", tmp_path)
    text = path.read_text("utf-8")
    assert text.startswith("#compdef floradrop")
    shell(["zsh", "-n", str(path)])
    for verb in COMMANDS:
        assert f"    {verb}:'" in text, verb
