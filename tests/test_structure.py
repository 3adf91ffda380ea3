"""The shape of the product package: rooms small enough to live in (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "floradrop"
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 500


def modules() -> list[Path]:
    found = sorted(PACKAGE.rglob("*.py"))
    assert len(found) > 50, f"no product modules found under {PACKAGE}"
    return found


def test_no_product_module_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by responsibility): {long}"


def test_no_class_is_over_500_lines() -> None:
    big = {}
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = node.end_lineno - first + 1
                if lines > MAX_CLASS_LINES:
                    big[f"{path.relative_to(PACKAGE)}:{node.name}"] = lines
    assert not big, f"classes over {MAX_CLASS_LINES} lines: {big}"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, only for type hints) for each ``floradrop`` import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(name, id(node) in typing_only) for name in names]
    return found


def test_no_import_circle_exists_only_for_type_hints() -> None:
    """A module that imports another only for its type hints, while that one imports it back
    (at any depth), is a circle to break (a Protocol, or the shared name in a lower module)."""
    names = {}
    for path in modules():
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {n: set() for n in names}
    hints: list[tuple[str, str]] = []
    for name, path in names.items():
        for imported, typing_only in _imports(path):
            target = resolve(imported)
            if target is None or target == name:
                continue
            edges[name].add(target)
            if typing_only:
                hints.append((name, target))

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    circles = [f"{a} -> {b}" for a, b in hints if reaches(b, a)]
    assert not circles, f"imports only for type hints that close a circle: {circles}"
