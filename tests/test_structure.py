"""The architecture, checked: narrow ports, a pure domain, layers that import inward only,
and modules and functions small enough to read (see docs/architecture.md)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import kenshin
import kenshin.ports

SOURCE = Path(kenshin.__file__).parent
MAX_PORT_METHODS = 15
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50

# What the domain may not import: anything that reads or writes outside the process's
# memory (files, sockets, processes, clocks, databases, logs) or a layer above it.
IO_MODULES = {
    "asyncio",
    "http",
    "logging",
    "os",
    "pathlib",
    "select",
    "selectors",
    "shutil",
    "smtplib",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "tempfile",
    "threading",
    "time",
    "urllib",
    "asyncssh",
    "paho",
    "pyftpdlib",
    "uvicorn",
}
DOMAIN_MAY_IMPORT = ("kenshin.domain", "kenshin.errors")


def modules(package: str = "") -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every source module of kenshin, or of one sub-package."""
    root = SOURCE / package.replace(".", "/") if package else SOURCE
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in the file; ``from kenshin import x`` as ``kenshin.x``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            if node.module == "kenshin":
                yield from ((node.lineno, f"kenshin.{alias.name}") for alias in node.names)


def test_no_port_has_more_than_15_methods() -> None:
    ports = []
    for info in pkgutil.iter_modules(kenshin.ports.__path__, "kenshin.ports."):
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if inspect.isclass(cls) and Protocol in cls.__mro__[1:] and cls.__module__ == info.name:
                members = [m for m in vars(cls) if not m.startswith("_")]
                callables = [
                    m
                    for m in members
                    if callable(getattr(cls, m)) or isinstance(vars(cls)[m], property)
                ]
                ports.append((f"{info.name}.{name}", len(callables)))
    assert len(ports) >= 12  # the walk found them: registry, readings, deliveries...
    too_wide = [(name, count) for name, count in ports if count > MAX_PORT_METHODS]
    assert too_wide == [], f"split these ports by concern (at most {MAX_PORT_METHODS} methods)"


def test_the_domain_imports_nothing_that_does_io_and_no_outer_layer() -> None:
    found = []
    for name, path in modules("domain"):
        for line, module in imported(path):
            top = module.split(".")[0]
            if top in IO_MODULES or (top == "kenshin" and not module.startswith(DOMAIN_MAY_IMPORT)):
                found.append(f"{name}:{line} imports {module}")
    assert found == [], "the domain is pure: compute in kenshin.domain, do I/O in adapters"


def test_services_and_ports_never_import_adapters_or_entrypoints() -> None:
    outer = ("kenshin.adapters", "kenshin.entrypoints", "kenshin.bootstrap", "kenshin.sim")
    found = [
        f"{name}:{line} imports {module}"
        for package in ("services", "ports")
        for name, path in modules(package)
        for line, module in imported(path)
        if module.startswith(outer)
    ]
    assert found == [], "services reach the outside through ports that bootstrap fills in"


def test_no_entrypoint_imports_an_adapter() -> None:
    """Only the composition root (kenshin.bootstrap) builds adapters: an entrypoint gets
    what it needs of one from it."""
    wrong = [
        f"{name}:{line} imports {module}"
        for name, path in modules("entrypoints")
        for line, module in imported(path)
        if module == "kenshin.adapters" or module.startswith("kenshin.adapters.")
    ]
    assert wrong == [], "entrypoints get adapters from kenshin.bootstrap"


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: lines
        for name, path in modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules by concern (at most {MAX_MODULE_LINES} lines)"


def test_no_function_is_over_50_lines() -> None:
    long = {}
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{name}.{node.name}"] = lines
    assert long == {}, f"split these functions (at most {MAX_FUNCTION_LINES} lines)"
