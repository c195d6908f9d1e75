"""Batch scoring on Beam's local runner vs an in-process batched loop over the same files.

``batch_predict_vs_in_process``: records per second of ``kerasforge batch-predict``'s job
(``serving.batch.pipeline.run_job``: DirectRunner, in-process, batches of 64) ÷ records
per second of a plain loop in this process that does the same work: load the SavedModel,
read the PNG files, call ``serving_bytes`` on batches of 64 and write one JSONL line per
record. Both sides start from the files and end with the predictions on disk, model
loading included; rounds alternate between them and each side's best round counts.
Goal ≥ 0.5 (issue #24).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ensure_default_model, figure

RECORDS = 10000
BATCH = 64
ROUNDS = 3


def run(args: Any) -> dict[str, dict]:
    from kerasforge.serving.batch.pipeline import JobOptions, prediction_json, run_job
    from kerasforge.serving.batch.plan import make_plan
    from kerasforge.serving.export.images import encode_png

    ensure_default_model(args.repository)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        pixels = np.random.default_rng(0).uniform(0, 255, (RECORDS, 8, 8, 1))
        for i, data in enumerate(encode_png(pixels)):
            (folder / f"{i:05d}.png").write_bytes(data)
        plan = make_plan(str(args.repository), "digits_cnn", None, None, str(folder / "*.png"))
        beam_rps, loop_rps = [], []
        for round_ in range(ROUNDS):
            options = JobOptions(output=f"{tmp}/beam{round_}", batch_size=BATCH)
            summary = run_job(plan, options)
            assert summary["scored"] == RECORDS, summary
            beam_rps.append(RECORDS / summary["elapsed_s"])
            out = Path(tmp) / f"loop{round_}.jsonl"
            loop_rps.append(RECORDS / _loop(plan, out, prediction_json))
    best_beam, best_loop = max(beam_rps), max(loop_rps)
    ratio = best_beam / best_loop
    return {
        "batch_predict_vs_in_process": figure(
            ratio,
            ">= 0.5",
            ratio >= 0.5,
            batch_predict_records_per_s=round(best_beam, 1),
            in_process_records_per_s=round(best_loop, 1),
            records=RECORDS,
            batch_size=BATCH,
            rounds=ROUNDS,
            limit="Beam's per-record overhead (bundles, coders, metrics) on 2 shared cores",
        )
    }


def _loop(plan: Any, out: Path, line: Any) -> float:
    """Seconds for the plain loop: load, read, score in batches, write JSONL."""
    import tensorflow as tf

    start = time.perf_counter()
    function = (module := tf.saved_model.load(plan.version_dir)).signatures[plan.signature]
    with out.open("w") as f:
        for first in range(0, len(plan.files), BATCH):
            paths = plan.files[first : first + BATCH]
            encoded = np.array([Path(p).read_bytes() for p in paths], dtype=object)
            outputs = {k: v.numpy() for k, v in function(image_bytes=tf.constant(encoded)).items()}
            for i, path in enumerate(paths):
                row = {k: np.asarray(v[i], dtype=v.dtype) for k, v in outputs.items()}
                f.write(line((path, row)) + "\n")
    del module
    return time.perf_counter() - start


if __name__ == "__main__":  # a quick look: python bench/bench_batch.py
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--repository", type=Path, default=Path("artifacts/models"))
    print(json.dumps(run(parser.parse_args()), indent=2))
