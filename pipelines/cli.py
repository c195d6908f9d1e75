"""``kerasforge train`` and ``kerasforge models``: the training side of the command line.

``kerasforge.cli.main`` asks :func:`add_commands` for these subcommands. Importing
this module loads the standard library only; each command imports what it
needs when it runs.
"""

from __future__ import annotations

import argparse

from ..cli.console import quiet_native_logs, sign_of_life, start_tensorflow

DEFAULT_CONFIG = "configs/digits_cnn.yaml"


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``models`` to the ``kerasforge`` subcommands ``sub``."""
    train = sub.add_parser("train", help="train an experiment and publish its model")
    train.add_argument("--config", default=DEFAULT_CONFIG, help="experiment YAML file")
    train.add_argument(
        "--set",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, e.g. --set train.epochs=3 data.batch_size=16",
    )
    train.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="start N local worker processes of one MultiWorkerMirroredStrategy cluster on "
        "loopback ports; the chief's output is shown, every worker's is kept in "
        "<output_dir>/workers/worker-<i>.log",
    )
    train.set_defaults(func=cmd_train)

    lst = sub.add_parser("models", help="list registered models and their options")
    lst.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'res*'")
    lst.set_defaults(func=cmd_models)

    backbone = sub.add_parser(
        "backbone",
        help="save a trained transfer model's backbone as a weights file for model.options.weights",
    )
    backbone.add_argument("checkpoint", help="a .keras checkpoint of a `transfer` model")
    backbone.add_argument("out", help="the weights file to write (name ends .weights.h5)")
    backbone.set_defaults(func=cmd_backbone)


def cmd_train(args: argparse.Namespace) -> int:
    """Validate the config, then start TensorFlow, train, publish and print a summary."""
    from .config.experiment import load_config

    # A bad config must fail in a blink, before TensorFlow's start-up.
    cfg = load_config(args.config, args.set)
    if args.workers is not None:
        from .training.launcher import launch, worker_command

        return launch(worker_command(args.config, args.set), args.workers, cfg.output_dir)
    sign_of_life(f"training {args.config}")
    from .training.cluster import export_tf_config

    export_tf_config(cfg.train.scale.strategy)  # Indexed Job or launcher variables -> TF_CONFIG
    if cfg.train.scale.strategy == "multi_worker":  # must precede TensorFlow's start-up
        from .training.strategy import make_strategy

        make_strategy("multi_worker")
    devices = start_tensorflow()
    from .training.summary import from_result, render
    from .training.train import train

    print(f"experiment {cfg.name}: model {cfg.model.name} on {', '.join(devices)}", flush=True)
    print("\n".join(render(from_result(train(cfg)))), flush=True)
    return 0


def cmd_backbone(args: argparse.Namespace) -> int:
    """Write the backbone weights of ``args.checkpoint`` to ``args.out``."""
    from pathlib import Path

    from ..cli.console import UsageError

    checkpoint, out = Path(args.checkpoint), Path(args.out)
    if not out.name.endswith(".weights.h5"):
        raise UsageError(f"backbone: OUT must end with .weights.h5 (Keras' weights format); "
                         f"received {str(out)!r}")  # fmt: skip
    if not checkpoint.is_file():
        raise UsageError(f"backbone: no checkpoint file at {str(checkpoint)!r}; pass the "
                         "best.keras (or last.keras) of a run of the `transfer` model")  # fmt: skip
    sign_of_life(f"backbone: reading {checkpoint}")
    start_tensorflow()
    from ..models.transfer import save_backbone_weights

    try:
        params = save_backbone_weights(checkpoint, out)
    except ValueError as exc:  # no transfer backbone, or not a Keras file
        raise UsageError(f"backbone: {exc}") from None
    print(
        f"wrote {out}: the backbone of {checkpoint}, {params:,} parameters; train a transfer "
        f"model of the same backbone and input_size with model.options.weights={out}"
    )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """Print each model matching ``args.pattern``: tasks, description, parameter count, options."""
    with quiet_native_logs():
        from .. import models
        from .config.options import model_tasks

    names = models.list_models(args.pattern)
    if names:
        sign_of_life(f"{len(names)} model(s) matching {args.pattern!r}")
        start_tensorflow()  # parameter counts build layers (shapes only); hide its chatter
    width = max([16, *map(len, names)])
    for name in names:
        entry = models.get_entry(name)
        options = ", ".join(f"{k}={p.default!r}" for k, p in models.builder_options(name).items())
        params = models.parameter_count(name)  # shapes only: no weight is allocated
        # A docstring's ``x`` reads `x` on a terminal; a text model's input has no shape.
        about = entry.description.replace("``", "`")
        size = "x".join(map(str, entry.example_input)) or f"one {entry.input_dtype} value"
        print(f"{name:{width}s} [{', '.join(model_tasks(name))}] {about}")
        print(f"{'':{width}s} parameters: {params:,} at input {size}")
        print(f"{'':{width}s} options: {options}")
    return 0
