"""The emulator is a sibling application, not a part of floradrop: it imports nothing of
floradrop, and in the product only the ``demo`` and ``emulator`` commands import it (tests and
scripts may). Read from the source (every import statement, at any depth, type-only ones
included) and checked once more at run time (importing the emulator loads no floradrop module).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
EMULATOR = SRC / "flora_emulator"
PRODUCT = SRC / "floradrop"
# The two commands that start an emulator; nothing else in the product may know it exists.
ALLOWED = {PRODUCT / "cli" / "demo_cmd.py", PRODUCT / "cli" / "emulator_cmd.py"}


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every absolute import in ``path`` (relative ones stay inside)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            found.add(node.args[0].value.split(".")[0])  # type: ignore[attr-defined]
    return found


def _dynamic_import(node: ast.Call) -> bool:
    """``importlib.import_module("x.y")`` / ``__import__("x")`` with a literal name."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return (
        name in {"import_module", "__import__"}
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def relative_escapes(path: Path) -> list[int]:
    """Lines of relative imports that climb out of the emulator package."""
    depth = len(path.relative_to(EMULATOR).parts)  # 1 for a module at the package root
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level >= depth + 1
    ]


def test_the_emulator_is_its_own_package_outside_the_product() -> None:
    assert (EMULATOR / "__init__.py").is_file()
    assert (EMULATOR / "py.typed").is_file()
    assert not (PRODUCT / "emulator").exists()
    assert len(list(EMULATOR.rglob("*.py"))) > 10  # the whole emulator, not a stub


def test_the_emulator_imports_nothing_of_floradrop() -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(imported_packages(path) & {"floradrop"})
        for path in sorted(EMULATOR.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    escapes = {str(p.relative_to(SRC)): relative_escapes(p) for p in EMULATOR.rglob("*.py")}
    assert {k: v for k, v in escapes.items() if v} == {}


def test_only_the_demo_and_emulator_commands_import_the_emulator() -> None:
    importers = {
        path for path in PRODUCT.rglob("*.py") if "flora_emulator" in imported_packages(path)
    }
    assert importers == ALLOWED


def test_the_checks_see_every_kind_of_import(tmp_path: Path) -> None:
    """The AST reader finds nested, type-only and dynamic imports, so the tests above can fail."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from floradrop.journal import Journal\n"
        "def f():\n"
        "    import flora_emulator.server\n"
        "    importlib.import_module('httpx._client')\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    assert imported_packages(sample) == {"typing", "floradrop", "flora_emulator", "httpx"}


def test_importing_the_emulator_loads_no_floradrop_module() -> None:
    probe = (
        "import sys, flora_emulator\n"
        "from flora_emulator import server, routes, techniques\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'floradrop'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
