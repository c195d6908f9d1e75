"""``kerasforge batch-predict``: the subcommand's parser and entry point.

Importing this module loads the standard library only; the command imports Beam and
TensorFlow when it runs.

Example:
    $ kerasforge batch-predict --model digits_cnn --input 'scans/*.png' --output out/
    $ kerasforge batch-predict --model wine --input 'rows/*.csv' --output gs://b/out \\
        --runner DataflowRunner -- --project=p --region=europe-west1 --temp_location=gs://b/t
"""

from __future__ import annotations

import argparse
import sys

from ...cli.console import UsageError
from ..serve_flags import DEFAULT_REPOSITORY

RUNNER_HELP = "Beam runner (default DirectRunner: local, in-process; FlinkRunner, SparkRunner, "


def add_batch_predict(sub: argparse._SubParsersAction) -> None:
    """Add ``batch-predict`` to the ``kerasforge`` subcommands ``sub``."""
    batch = sub.add_parser(
        "batch-predict",
        help="score files in bulk with Apache Beam (needs the batch extra)",
        description="Score every record of the files INPUT matches (images, CSV rows, "
        "TFRecords of tf.Example or of serialized tensors, text lines) with a published "
        "model, on Apache Beam's RunInference. Pipeline options for the runner follow `--`.",
    )
    batch.add_argument("--model", required=True, help="model name in the repository")
    choice = batch.add_mutually_exclusive_group()
    choice.add_argument("--version", type=int, default=None, help="version (default: latest)")
    choice.add_argument("--label", default=None, help="version label from models.config")
    batch.add_argument("--repository", default=DEFAULT_REPOSITORY, help="model repository root")
    batch.add_argument("--input", required=True, help="a glob of input files, e.g. 'data/*.png'")
    batch.add_argument("--output", required=True, help="output folder (any Beam file system)")
    batch.add_argument(
        "--format", choices=("jsonl", "tfrecord"), default="jsonl", help="prediction files"
    )
    batch.add_argument(
        "--runner", default="DirectRunner", help=RUNNER_HELP + "DataflowRunner, ...)"
    )
    batch.add_argument("--batch-size", type=int, default=64, help="records per model call")
    batch.add_argument("beam_args", nargs="*", help="after --: Beam pipeline options")
    batch.set_defaults(func=cmd_batch_predict)


def cmd_batch_predict(args: argparse.Namespace) -> int:
    """Run the job and print its summary; 0 once the job ran, whatever records failed."""
    if args.batch_size < 1:
        raise UsageError(f"--batch-size: expected a positive number; received {args.batch_size}")
    import logging

    from ...cli.console import start_tensorflow
    from .plan import make_plan

    # Beam warns on the root logger about optional cloud clients and memory probes it
    # does without; a record that fails is reported in the dead-letter file instead.
    logging.getLogger().setLevel(logging.ERROR)

    plan = make_plan(args.repository, args.model, args.version, args.label, args.input)
    # A sign of life: TensorFlow, Beam and the model take a while to load before the job runs.
    print(f"batch-predict: {len(plan.files)} file(s) with {plan.model} version {plan.version} "
          f"({plan.signature}) on {args.runner}; loading TensorFlow, Beam and the model",
          file=sys.stderr, flush=True)  # fmt: skip
    start_tensorflow()
    from .pipeline import JobOptions, run_job, summary_lines

    options = JobOptions(
        output=args.output,
        format=args.format,
        runner=args.runner,
        batch_size=args.batch_size,
        beam_args=tuple(args.beam_args),
    )
    summary = run_job(plan, options)
    for line in summary_lines(summary):
        print(line, file=sys.stdout)
    return 0
