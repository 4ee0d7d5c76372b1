"""The `monitor` command: one sub-command per concern, registered by the module that owns it."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from monitor import __version__

# (sub-command, module that defines `register(subparsers)`); imported lazily so that
# `monitor --help` stays fast and a missing optional dependency breaks one command only.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("run", "monitor.run.cli"),
    ("worker", "monitor.stream.worker"),
    ("ingest", "monitor.sources.cli"),
    ("devnet", "monitor.devnet.cli"),
    ("replay", "monitor.scenario.replay"),
    ("bench", "monitor.bench"),
    ("alerts", "monitor.alerting.cli"),
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Assemble the top-level parser from the command modules: only the one of the first
    command `argv` names, if it names one (a worker's start then does not import the devnet's
    web3, seconds of it), else every one (for the help)."""
    named = next((c for arg in argv or () for c in COMMANDS if arg == c[0]), None)
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Streaming monitor of liquidation clusters and cascades.",
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, module_name in COMMANDS if named is None else (named,):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("monitor"):
                continue  # command not built in this checkout
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
