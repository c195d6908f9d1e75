"""Every ``kerasforge`` subcommand's ``--help`` shows its options' defaults (``cli/console.py``)."""

from __future__ import annotations

import argparse

import pytest

from kerasforge.cli.console import subcommand_parsers
from kerasforge.cli.main import build_parser


def all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for child in subcommand_parsers(parser):
        found += all_parsers(child)
    return found


PARSERS = {p.prog: p for p in all_parsers(build_parser())}


def written(default: object) -> set[str]:
    """The ways a default may be written in a help text."""
    if isinstance(default, (list, tuple)):
        return {",".join(map(str, default)), " ".join(map(str, default))}
    return {str(default), str(default).lower()}


def test_every_subcommand_is_walked():
    assert {"kerasforge serve", "kerasforge runs gc", "kerasforge predict"} <= set(PARSERS)


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_each_option_with_a_default_shows_it(prog):
    parser = PARSERS[prog]
    missing = []
    for action in parser._actions:
        default = action.default
        if default in (None, argparse.SUPPRESS, [], ()) or action.nargs == 0:
            continue  # no value to show, or an on/off switch
        if not action.option_strings and action.nargs not in ("?", "*"):
            continue
        formatter = parser._get_formatter()
        formatter.add_argument(action)
        text = " ".join(formatter.format_help().split())
        if "default" not in text or not any(w in text for w in written(default)):
            missing.append(f"{action.dest}={default!r}: {text}")
    assert not missing, missing


def test_the_defaults_a_new_user_asks_about_are_in_the_help():
    def text(prog: str) -> str:
        return " ".join(PARSERS[prog].format_help().split())

    assert "(default: configs/digits_cnn.yaml)" in text("kerasforge train")
    assert "(default: http://127.0.0.1:8501)" in text("kerasforge predict")
    assert "(default: 127.0.0.1:8500)" in text("kerasforge predict")
    assert "(default: the model trained last, else digits_cnn)" in text("kerasforge predict")
    serve = text("kerasforge serve")
    assert "(default: 8501)" in serve and "(default: 8500)" in serve
    assert "gRPC" in serve.split("options:")[0], "serve's description names both APIs"
    listing = " ".join(build_parser().format_help().split())
    assert "REST (:8501) and gRPC (:8500), a drop-in for TF Serving" in listing


def test_verbose_is_accepted_before_and_after_the_command():
    parse = build_parser().parse_args
    assert parse(["--verbose", "runs", "gc"]).verbose
    assert parse(["runs", "gc", "--verbose"]).verbose
    assert parse(["serve", "--verbose"]).verbose
    assert not parse(["train"]).verbose
