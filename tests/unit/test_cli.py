"""The top-level command line registers only the command it is given (a worker's start need
not import every other command's dependencies), and every command for the help."""

from __future__ import annotations

import argparse

from monitor.cli import COMMANDS, build_parser


def commands(parser: argparse.ArgumentParser) -> set[str]:
    """The sub-commands a parser registered."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_a_named_command_is_the_only_one_registered_and_parses() -> None:
    parser = build_parser(["--log-level", "WARNING", "worker", "--partitions", "4"])
    assert commands(parser) == {"worker"}
    assert parser.parse_args(["--log-level", "WARNING", "worker"]).command == "worker"


def test_without_a_command_every_one_is_registered() -> None:
    assert commands(build_parser(["--help"])) == {name for name, _ in COMMANDS}
    assert commands(build_parser()) == {name for name, _ in COMMANDS}
