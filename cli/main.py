"""``kerasforge``: the command line, dispatching to the side that owns each command.

``train`` and ``models`` live in ``kerasforge.pipelines.cli``, ``publish``,
``tune`` and ``runs`` in ``kerasforge.pipelines.tracking.cli``; ``serve``,
``predict`` and ``export`` in ``kerasforge.serving.cli``. Each side adds its
subcommands to the parser and imports the library code a command needs only
when that command runs, so building the parser loads the standard library
alone: ``serve`` never loads training code or MLflow and ``predict`` loads no
TensorFlow. A command whose extra is not installed fails with one line naming
it (:mod:`kerasforge.cli.extras`). Every command runs quiet, libraries' own log
lines hidden, unless ``--verbose`` (or ``KERASFORGE_VERBOSE=1``) asks for them
(:mod:`kerasforge.cli.quiet`).

Example:
    $ kerasforge train --set train.epochs=3
    $ kerasforge --verbose publish --model digits_cnn
    $ python -m kerasforge.cli.main serve --repository artifacts/models
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .console import UsageError, show_defaults, subcommand_parsers
from .extras import MissingExtraError, needs_extra
from .quiet import VERBOSE_ENV, quiet_command

# The modules that add subcommands, each with an ``add_commands(subparsers)``.
SIDES = (
    "kerasforge.pipelines.cli",
    "kerasforge.pipelines.tracking.cli",
    "kerasforge.pipelines.monitoring.cli",
    "kerasforge.serving.cli",
)

# Modules whose errors carry a complete message for the user, and the class.
_USER_ERRORS = (
    ("kerasforge.pipelines.errors", "KerasforgeError"),
    ("kerasforge.serving.errors", "ServingError"),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``kerasforge`` parser, with every side's subcommands."""
    parser = argparse.ArgumentParser(
        prog="kerasforge", description="Train, publish, serve and query Keras models."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for side in SIDES:
        importlib.import_module(side).add_commands(sub)
    add_verbose(parser)
    show_defaults(parser)
    return parser


def add_verbose(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """``--verbose`` on ``parser`` and, after the command too, on every subcommand under it."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        # A subcommand's own default would overwrite `kerasforge --verbose train`'s value.
        default=False if top else argparse.SUPPRESS,
        help="show the libraries' own log lines (TensorFlow, absl, TFLite, Optuna, MLflow), "
        f"hidden by default; or set {VERBOSE_ENV}=1",
    )
    for child in subcommand_parsers(parser):
        add_verbose(child, top=False)


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is complete; printed as one line, no traceback.

    Only the error modules already imported are looked up: an error can only
    have been raised by a module that was loaded, and looking up the others
    would load training code into ``serve`` (or serving code into ``train``).
    """
    found: list[type[BaseException]] = [UsageError, MissingExtraError]
    for module, name in _USER_ERRORS:
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kerasforge`` console script.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 on a user error, 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        with quiet_command(args.verbose), needs_extra(f"kerasforge {args.command}"):
            return args.func(args)
    except user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
