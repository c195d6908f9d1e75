"""The Beam job: files -> records -> ``RunInference`` -> predictions, dead letters, summary.

::

    Create(files) [-> Reshuffle] -> ReadRecords ------------------------> dead letters
                                        |                                      ^
                                        v                                      |
                    RunInference(SignatureHandler) -> Split -> predictions     |
                                                          `--------------------'

Everything lands in the output folder: ``predictions-SSSSS-of-NNNNN.jsonl`` (or
``.tfrecord``; shards as the runner's bundles come, so no step gathers every record),
``dead_letter.jsonl`` (``{"source", "reason"}`` per line) and ``summary.json``.

``DirectRunner`` (the default) runs Beam's local batch engine, the ``FnApiRunner``, in this
process: that is what Beam's ``DirectRunner`` picks for a batch job, without its first try
at the Prism runner (a binary it downloads). In-process, because the SavedModel then loads
once and TensorFlow's own thread pool spreads each batch over every core; separate worker
processes would each load the model and pass every record between processes. Any other
runner is passed to Beam by name, with the pipeline options after ``--`` on the command line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference
from apache_beam.transforms.window import GlobalWindows

from ..card import SignatureInfo
from .handler import SignatureHandler
from .inputs import Bad, read_file
from .plan import Plan

DEFAULT_RUNNER = "DirectRunner"
PREDICTIONS, DEAD_LETTER, SUMMARY = "predictions", "dead_letter.jsonl", "summary.json"
FORMATS = {"jsonl": ".jsonl", "tfrecord": ".tfrecord"}
_NAMESPACE = "kerasforge.batch"
_SHOWN_FAILURES = 10


@dataclass(frozen=True)
class JobOptions:
    """Where the results go and how the job runs."""

    output: str
    format: str = "jsonl"
    runner: str = DEFAULT_RUNNER
    batch_size: int = 64
    beam_args: tuple[str, ...] = ()


class ReadRecords(beam.DoFn):
    """Files -> batches of ``batch_size`` records (the last of a bundle may be smaller);
    what cannot be read goes to the ``dead`` output."""

    def __init__(self, kind: str, info: SignatureInfo, batch_size: int) -> None:
        self.kind, self.info, self.batch_size = kind, info, batch_size
        self.failed = Metrics.counter(_NAMESPACE, "failed")
        self.batch: list[Any] = []

    def start_bundle(self) -> None:
        self.batch = []

    def process(self, path: str) -> Iterator[Any]:
        for record in read_file(path, self.kind, self.info):
            if isinstance(record, Bad):
                self.failed.inc()
                yield beam.pvalue.TaggedOutput("dead", record)
                continue
            self.batch.append(record)
            if len(self.batch) >= self.batch_size:
                yield self.batch
                self.batch = []

    def finish_bundle(self) -> Iterator[Any]:
        if self.batch:
            yield GlobalWindows.windowed_value(self.batch)
            self.batch = []


class SplitScored(beam.DoFn):
    """Scored records to the main output, formatted; the ones the model refused to ``dead``."""

    def __init__(self, output_format: str) -> None:
        self.lines = output_format == "jsonl"
        self.format = prediction_json if self.lines else prediction_example
        self.scored = Metrics.counter(_NAMESPACE, "scored")
        self.failed = Metrics.counter(_NAMESPACE, "failed")

    def process(self, results: list[Any]) -> Iterator[Any]:
        scored = []
        for result in results:
            if isinstance(result, Bad):
                self.failed.inc()
                yield beam.pvalue.TaggedOutput("dead", result)
            else:
                scored.append(self.format(result))
        self.scored.inc(len(scored))
        if self.lines and scored:  # one element per batch: its lines, joined
            yield "\n".join(scored)
        else:
            yield from scored


def run_job(plan: Plan, options: JobOptions) -> dict[str, Any]:
    """Score ``plan``'s files; write predictions, dead letters and the summary.

    Returns:
        The summary (also written to ``<output>/summary.json``).
    """
    pipeline = beam.Pipeline(runner=_runner(options.runner), options=_pipeline_options(options))
    _build(pipeline, plan, options)
    start = time.perf_counter()
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - start
    summary = _summary(plan, options, _counters(result), elapsed)
    _write(_join(options.output, SUMMARY), json.dumps(summary, indent=2).encode())
    return summary


def _runner(name: str) -> Any:
    if name != DEFAULT_RUNNER:
        return name
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def _pipeline_options(options: JobOptions) -> Any:
    from apache_beam.options.pipeline_options import PipelineOptions

    local = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    return PipelineOptions(
        [*local, *options.beam_args]
        if options.runner == DEFAULT_RUNNER
        else list(options.beam_args)
    )


def _build(pipeline: beam.Pipeline, plan: Plan, options: JobOptions) -> None:
    handler = SignatureHandler(plan.version_dir, plan.signature, plan.info)
    files = pipeline | "Files" >> beam.Create(plan.files)
    if options.runner != DEFAULT_RUNNER:  # spread the files over the workers
        files = files | "Spread" >> beam.Reshuffle()
    reader = ReadRecords(plan.kind, plan.info, options.batch_size)
    read = files | "Read" >> beam.ParDo(reader).with_outputs("dead", main="ok")
    scored = (
        read.ok
        | "Score" >> RunInference(handler)
        | "Split" >> beam.ParDo(SplitScored(options.format)).with_outputs("dead", main="ok")
    )
    # Shards as the runner's bundles come (a fixed count would group every record on one key).
    prefix, suffix = _join(options.output, PREDICTIONS), FORMATS[options.format]
    if options.format == "jsonl":
        write: Any = beam.io.WriteToText(prefix, suffix)
    else:
        write = beam.io.WriteToTFRecord(prefix, file_name_suffix=suffix)
    scored.ok | "Write" >> write
    dead_prefix = _join(options.output, DEAD_LETTER.removesuffix(".jsonl"))
    (
        (read.dead, scored.dead)
        | "Dead" >> beam.Flatten()
        | "DeadJson" >> beam.Map(dead_letter_json)
        | "WriteDead"
        >> beam.io.WriteToText(dead_prefix, ".jsonl", num_shards=1, shard_name_template="")
    )


def dead_letter_json(bad: Bad) -> str:
    """One dead-letter line: ``{"source": ..., "reason": ...}``."""
    return json.dumps({"source": bad.source, "reason": bad.reason})


def prediction_json(scored: tuple[str, dict[str, np.ndarray]]) -> str:
    """One JSONL line: ``{"source": ..., "outputs": {name: value}}`` (strings as UTF-8)."""
    source, outputs = scored
    return json.dumps({"source": source, "outputs": {k: _plain(v) for k, v in outputs.items()}})


def _plain(value: np.ndarray) -> Any:
    if value.dtype == object:
        return np.vectorize(_text, otypes=[object])(value).tolist()
    return value.tolist()


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def prediction_example(scored: tuple[str, dict[str, np.ndarray]]) -> bytes:
    """One serialized tf.Example: ``source`` (bytes) and each output, flattened row-major
    (floats as ``float_list``, integers as ``int64_list``, strings as ``bytes_list``)."""
    from tensorflow.core.example import example_pb2

    source, outputs = scored
    example = example_pb2.Example()
    example.features.feature["source"].bytes_list.value.append(source.encode())
    for name, value in outputs.items():
        feature, flat = example.features.feature[name], np.ravel(value)
        if value.dtype == object:
            feature.bytes_list.value.extend(
                v if isinstance(v, bytes) else str(v).encode() for v in flat
            )
        elif value.dtype.kind in "biu":
            feature.int64_list.value.extend(flat.astype("int64").tolist())
        else:
            feature.float_list.value.extend(flat.astype("float32").tolist())
    return example.SerializeToString()


def _counters(result: Any) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    found = {"scored": 0, "failed": 0}
    query = result.metrics().query(MetricsFilter().with_namespace(_NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + int(value or 0)
    return found


def _summary(plan: Plan, options: JobOptions, counts: dict[str, int], elapsed: float) -> dict:
    total = counts["scored"] + counts["failed"]
    return {
        "model": plan.model,
        "version": plan.version,
        "signature": plan.signature,
        "input_kind": plan.kind,
        "files": len(plan.files),
        "runner": options.runner,
        "count": total,
        "scored": counts["scored"],
        "failed": counts["failed"],
        "failures": _first_failures(options.output),
        "elapsed_s": round(elapsed, 3),
        "throughput_per_s": round(total / elapsed, 1) if elapsed > 0 else None,
        "predictions": _join(options.output, f"{PREDICTIONS}-*{FORMATS[options.format]}"),
        "dead_letter": _join(options.output, DEAD_LETTER),
    }


def _first_failures(output: str) -> list[dict[str, str]]:
    from apache_beam.io.filesystems import FileSystems

    path = _join(output, DEAD_LETTER)
    if not FileSystems.exists(path):  # Beam writes no file for an empty PCollection
        return []
    with FileSystems.open(path, compression_type="uncompressed") as f:
        lines = [f.readline() for _ in range(_SHOWN_FAILURES)]
    return [json.loads(line) for line in lines if line.strip()]


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as the few lines the command prints."""
    lines = [
        f"scored {summary['scored']} of {summary['count']} records from {summary['files']} "
        f"file(s) in {summary['elapsed_s']:.1f} s ({summary['throughput_per_s']} records/s) "
        f"with {summary['model']} version {summary['version']} ({summary['signature']}) on "
        f"{summary['runner']}",
        f"predictions: {summary['predictions']}",
    ]
    if summary["failed"]:
        first = summary["failures"][0] if summary["failures"] else {}
        lines.append(
            f"failed {summary['failed']}: see {summary['dead_letter']}; first: "
            f"{first.get('source')}: {first.get('reason')}"
        )
    return lines


def _join(folder: str, name: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(folder, name)


def _write(path: str, data: bytes) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as f:
        f.write(data)
