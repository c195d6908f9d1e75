"""The harness of the task end-to-end tests (``tests/test_*end_to_end.py``).

Each of them trains a tiny experiment, publishes it, serves it and asks the server,
the command line and the edge runtime the same question; these helpers take the
steps they share, so that each file states only what is particular to its task:

``train_config`` / ``trained_fixture``: a config with overrides, trained into a folder
(once per module for the fixture); ``serving`` / ``rest_predict``: a real server on the
published repository, and one REST request to it; ``cli_predict``: ``kerasforge predict``
round trip; ``write_inputs`` / ``edge_predict``: an input file and the edge runtime's answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from kerasforge.serving.clients.rest_client import RestClient
from tests.conftest import ROOT, ServerProcess, run_cli, run_edge


class Trained(NamedTuple):
    """What ``train_config`` returns: unpacks as ``cfg, result = trained``."""

    cfg: Any  # the loaded experiment config
    result: Any  # what `kerasforge.pipelines.training.train.train` returns

    @property
    def models(self) -> Path:
        """The model repository it published into (what a server serves)."""
        return self.cfg.output_dir / "models"

    @property
    def model_name(self) -> str:
        return self.cfg.export.model_name


def train_config(config: str, overrides: Sequence[str], out: Path) -> Trained:
    """Load ``configs/<config>`` with ``overrides``, train it into ``out`` and publish it."""
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.training.train import train

    cfg = load_config(ROOT / "configs" / config, [*overrides, f"output_dir={out}"])
    return Trained(cfg, train(cfg))


def trained_fixture(config: str, overrides: Sequence[str]):
    """A module-scoped fixture: ``configs/<config>`` trained once, into its own tmp folder.

    Assign it to the fixture's name in the test module: ``trained = trained_fixture(...)``.
    """

    @pytest.fixture(scope="module")
    def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
        return train_config(config, overrides, tmp_path_factory.mktemp(Path(config).stem))

    return trained


@contextmanager
def serving(models: Path) -> Iterator[ServerProcess]:
    """A ``kerasforge serve`` process on the repository ``models``, stopped on leaving."""
    server = ServerProcess(models)
    try:
        yield server
    finally:
        server.stop()


def rest_predict(models: Path, model_name: str, instances: Any, **kwargs: Any) -> list:
    """Serve ``models`` for one REST Predict request; the ``predictions`` it answers."""
    with serving(models) as server:
        return RestClient(server.url).predict(model_name, instances, **kwargs)


def cli_predict(*args: str, **kwargs: Any) -> dict:
    """``kerasforge predict ARGS`` in a subprocess, which must succeed; its JSON answer."""
    proc = run_cli("predict", *args, **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def write_inputs(path: Path, inputs: Any) -> Path:
    """``inputs`` in the file ``path``: a ``.npy`` array, else one text line each."""
    if path.suffix == ".npy":
        np.save(path, inputs)
    else:
        path.write_text("\n".join(inputs) + "\n")
    return path


def edge_predict(model: Path, inputs: Path, *args: str) -> dict:
    """``kerasforge-edge predict MODEL INPUTS ARGS``, which must succeed; its JSON answer."""
    edge = run_edge("predict", str(model), str(inputs), *args)
    assert edge.returncode == 0, edge.stderr
    return json.loads(edge.stdout)
