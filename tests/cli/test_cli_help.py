"""Every `livemind ... --help` renders: argparse formats help strings with %, so a bare "54 %" crashed `eval --help`."""

from __future__ import annotations

import argparse

from livemind.cli.main import build_parser


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(" ".join(("livemind", *path)), parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, (*path, name))
    return found


def test_every_command_and_subcommand_renders_its_help() -> None:
    parsers = _parsers(build_parser())
    assert len(parsers) > 10 and any(name == "livemind eval" for name, _ in parsers)
    for name, parser in parsers:
        text = parser.format_help()
        assert text.startswith("usage:"), name
