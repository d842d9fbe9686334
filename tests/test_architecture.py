"""The layers' rules, read from the source: what each layer may import."""

from __future__ import annotations

import ast
from pathlib import Path

import kenshin

SOURCE = Path(kenshin.__file__).parent


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module the file imports (line, name); ``from kenshin import x`` as ``kenshin.x``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "kenshin":
                found += [(node.lineno, f"kenshin.{alias.name}") for alias in node.names]
    return found


def test_no_entrypoint_imports_an_adapter() -> None:
    """Only the composition root (kenshin.bootstrap) builds adapters: an entrypoint gets
    what it needs of one from it."""
    wrong = [
        f"{path.relative_to(SOURCE.parent)}:{line} imports {name}"
        for path in sorted((SOURCE / "entrypoints").rglob("*.py"))
        for line, name in _imports(path)
        if name == "kenshin.adapters" or name.startswith("kenshin.adapters.")
    ]
    assert not wrong, "entrypoints import adapters:\n" + "\n".join(wrong)
