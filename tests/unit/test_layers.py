"""The layout is the architecture: no import cycle inside monitor/, and no package imports one
above it (risk at the bottom, then the wire contract, then sources / scenario / devnet and the
stream side by side, then the embedded run, then the command line)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "monitor"
SHARED = {"monitor.localhost", "monitor.console", "monitor.argtypes", "monitor.limits"}
# package -> the monitor packages (and shared modules) it may import besides itself
ALLOWED: dict[str, set[str]] = {
    "monitor.risk": set(),
    "monitor.limits": set(),
    "monitor.wire": {"monitor.risk", "monitor.limits"},
    "monitor.config": {"monitor.risk", "monitor.limits"},
    "monitor.alerting": {"monitor.risk", "monitor.wire", "monitor.config", *SHARED},
    "monitor.sources": {"monitor.risk", "monitor.wire", *SHARED},
    "monitor.scenario": {"monitor.risk", "monitor.wire", *SHARED},
    "monitor.devnet": {"monitor.risk", "monitor.wire", "monitor.sources", "monitor.scenario",
                       *SHARED},
    "monitor.stream": {"monitor.risk", "monitor.wire", "monitor.config", "monitor.alerting",
                       *SHARED},
    "monitor.bench": {"monitor.risk", *SHARED},
    "monitor.run": {"monitor.risk", "monitor.wire", "monitor.config", "monitor.sources",
                    "monitor.scenario", "monitor.devnet", "monitor.stream", *SHARED},
}


def module_name(path: Path) -> str:
    """monitor/a/b.py -> monitor.a.b; monitor/a/__init__.py -> monitor.a."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> Iterator[str]:
    """The monitor modules a file imports when it runs (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("monitor"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("monitor"):
            yield node.module


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}
GRAPH = {name: {m for m in runtime_imports(path) if m in MODULES and m != name}
         for name, path in MODULES.items()}


def package(name: str) -> str:
    """The top-level package (or module) of monitor a module belongs to."""
    return ".".join(name.split(".")[:2])


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dependency in sorted(GRAPH[name]):
            if state.get(dependency) == 1:
                cycle = [*path[path.index(dependency):], dependency]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dependency not in state:
                visit(dependency, [*path, dependency])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_no_import_from_a_higher_layer(layer: str) -> None:
    wrong = sorted(f"{name} imports {dependency}" for name, deps in GRAPH.items()
                   if package(name) == layer for dependency in deps
                   if package(dependency) not in {layer, *ALLOWED[layer]})
    assert not wrong, wrong


def test_only_the_command_line_imports_the_embedded_run() -> None:
    importers = sorted(name for name, deps in GRAPH.items() if package(name) != "monitor.run"
                       for dep in deps if package(dep) == "monitor.run")
    assert importers == ["monitor.cli"] or not importers, importers
