"""`livemind eval` on the command line: flags become settings, bad values become clear errors."""

from __future__ import annotations

import argparse

import pytest

from livemind.cli.eval import add_eval_parser, cmd_eval, settings_from
from livemind.cli.main import build_parser
from livemind.errors import InvalidRequestError


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["eval", *argv])


def test_flags_become_eval_settings() -> None:
    args = _parse("--task", "word", "--n", "12", "--seed", "4", "--rounds", "3", "--experts", "coder, ethicist",
                  "--best-expert", "mathematician", "--pilot", "0", "--max-tokens", "64", "--out", "/tmp/x")
    s = settings_from(args)
    assert (s.task, s.n, s.seed, s.rounds, s.max_tokens, s.pilot_n) == ("word", 12, 4, 3, 64, 0)
    assert s.experts == ("coder", "ethicist") and s.best_expert == "mathematician"
    assert args.func is cmd_eval and args.out == "/tmp/x"


def test_defaults_are_thirty_arithmetic_questions_one_round_a_pilot_and_room_to_work() -> None:
    s = settings_from(_parse("--out", "/tmp/x"))
    assert (s.task, s.n, s.seed, s.rounds, s.pilot_n, s.experts, s.best_expert) == ("arithmetic", 30, 0, 1, 5, None, None)
    assert s.max_tokens == 300 and s.extraction == "lenient"
    assert settings_from(_parse("--out", "/tmp/x", "--extraction", "strict")).extraction == "strict"


def test_an_out_of_range_value_names_its_flag() -> None:
    with pytest.raises(InvalidRequestError, match="--n"):
        settings_from(_parse("--n", "0", "--out", "/tmp/x"))
    with pytest.raises(InvalidRequestError, match="--pilot"):
        settings_from(_parse("--pilot", "-1", "--out", "/tmp/x"))


def test_an_unknown_task_and_a_missing_out_folder_are_refused() -> None:
    with pytest.raises(SystemExit):
        _parse("--task", "chess", "--out", "/tmp/x")
    with pytest.raises(SystemExit):
        _parse("--n", "3")


def test_the_livemind_command_has_an_eval_subcommand() -> None:
    args = build_parser().parse_args(["eval", "--n", "3", "--out", "/tmp/x"])
    assert args.func is cmd_eval and args.n == 3
