"""`--help` of each benchmark CLI exits 0: a benchmark that no longer imports fails here."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120.0


def is_cli(path: Path) -> bool:
    """A script that imports argparse and defines main(), unlike a helper module (designs.py)."""
    tree = ast.parse(path.read_text())
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    return "argparse" in imports and any(
        isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


SCRIPTS = sorted(path.name for path in (ROOT / "benchmarks").glob("*.py") if is_cli(path))


def test_the_benchmark_clis_are_found() -> None:
    """Guards the discovery itself: a broken is_cli() would otherwise check nothing."""
    assert {"risk_core.py", "contagion.py", "freshness.py"} <= set(SCRIPTS)
    assert "designs.py" not in SCRIPTS


@pytest.fixture(scope="module")
def helps() -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """`--help` of every script, run in parallel against this checkout's monitor package."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    running = {name: subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / name), "--help"],
                                      cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
               for name in SCRIPTS}
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for name, process in running.items():
            out, err = process.communicate(timeout=TIMEOUT_S)
            done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        yield done
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_help_exits_0(
        script: str, helps: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """The script imports and parses its options: a stale import fails here, not in a run."""
    ran = helps[script]
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "usage:" in ran.stdout
