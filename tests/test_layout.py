"""Tests mirror the source tree: each folder of tests/ is named after the package it tests
(``tests/pipeline`` for ``floradrop.pipeline``, ``tests/flora`` for ``floradrop.flora``, ...),
except the few that test across packages; ``tests/engine`` holds only the engine's own tests."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
PRODUCT = SRC / "floradrop"

ACROSS = {
    "contract": "the client and the emulator against the OpenAPI documents",
    "emulator": "the FLORA emulator (src/flora_emulator)",
    "engine": "the engine, and the harness that runs it for every area's tests",
    "reliability": "faults, kills, soak and trust boundaries through the whole daemon",
}

REPOSITORY_CHECKS = {  # tests/test_*.py that check the repository, not one module
    "docs": "README and the docs tell the truth",
    "layout": "this file",
    "lock": "requirements/lock.txt",
    "messages": "every command a message names exists",
    "structure": "module sizes, import circles",
}


def test_every_test_folder_is_named_after_a_package() -> None:
    packages = {p.name for p in PRODUCT.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in TESTS.iterdir() if (p / "__init__.py").is_file()}
    assert folders - packages - ACROSS.keys() == set()
    assert (SRC / "flora_emulator" / "__init__.py").is_file()


def test_top_level_tests_name_a_top_level_module() -> None:
    modules = {p.stem for p in PRODUCT.glob("*.py")}
    named = {p.stem.removeprefix("test_") for p in TESTS.glob("test_*.py")}
    loose = named - modules - REPOSITORY_CHECKS.keys()
    assert loose == set(), f"put these tests in the folder of what they test: {sorted(loose)}"


def test_the_engine_folder_holds_engine_tests_only() -> None:
    """Unit tests of a pipeline stage, the config or the client live in their own folders."""
    for path in (TESTS / "engine").glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        assert "running(" in text or "write_config(" in text, f"{path.name} is not an engine test"
