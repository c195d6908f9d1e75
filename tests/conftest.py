"""Shared fixtures.

``published``: a tiny untrained digits classifier, assembled by its task and
published once (no training), for the server, CLI, export and edge tests.
``published_once``: any config published untrained once, shared by the tests that read it.
``trained``: the default experiment shrunk to a few epochs, for the heavy cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests use their own local stores

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "kerasforge.cli.main"]
QUICK = ["train.epochs=6", "train.early_stopping_patience=2"]
DEFAULT_CONFIG = ROOT / "configs" / "digits_cnn.yaml"
TINY = ["model.options.filters=[4]", "model.options.dense_units=8"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with heavy cases run first, the slowest of them first. ``make test`` hands
    whole modules to its workers (``--dist loadscope --no-loadscope-reorder``) in collection
    order; a long module handed out last keeps one worker busy for minutes while the other
    has nothing left to do. "Slowest" is what the last recorded ``make test`` measured
    (``tests/timings.py``); without a record the heavy modules keep their collected order,
    as do the tests within a module and the light modules."""
    from tests.timings import module_seconds

    heavy = {item.module.__name__ for item in items if item.get_closest_marker("heavy")}
    seconds = module_seconds()

    def key(item: pytest.Item) -> tuple[bool, float]:
        is_heavy = item.module.__name__ in heavy
        return not is_heavy, -seconds.get(item.nodeid.split("::")[0], 0.0) if is_heavy else 0.0

    items.sort(key=key)


def dev_tool(name: str) -> str:
    """Path of a dev-extra command (``ruff``, ``uv``): beside this Python, else on PATH."""
    import shutil

    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: `make install` installs the dev extra")
    return found


def run_edge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``kerasforge-edge`` (``python -m kerasforge.serving.edge``) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "kerasforge.serving.edge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``kerasforge`` as a user would, in a subprocess."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs
    )


# `kerasforge ARGS` in a fresh interpreter that prints, as it exits, every module it loaded.
CLI_PROBE = [
    sys.executable,
    "-c",
    "import json, sys\n"
    "from kerasforge.cli.main import main\n"
    "status = main(sys.argv[1:])\n"
    "print('loaded modules:', json.dumps(sorted(sys.modules)), flush=True)\n"
    "sys.exit(status)\n",
]


def loaded_modules(stdout: str) -> set[str]:
    """The modules a ``CLI_PROBE`` run reported on its last line."""
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("loaded modules: "), stdout
    return set(json.loads(last.removeprefix("loaded modules: ")))


def run_cli_probe(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``kerasforge ARGS`` like ``run_cli``; also return the modules it loaded."""
    proc = subprocess.run(
        [*CLI_PROBE, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    return proc, loaded_modules(proc.stdout)


@contextlib.contextmanager
def tracking_at(uri: str):
    """MLflow's process-wide URI at ``uri`` for the block, put back after: MLflow 3 resolves
    a run's ``model`` artifacts as a logged model through that URI, not the client's."""
    import mlflow

    from kerasforge.pipelines.tracking.store import scoped_uris

    with scoped_uris():
        mlflow.set_tracking_uri(uri)
        yield


@pytest.fixture(autouse=True)
def _mlflow_uris_left_alone():
    """A test (or the code it runs) must not leave MLflow's URIs in the environment:
    every later training, and every subprocess, would follow them."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    before = {name: os.environ.get(name) for name in names}
    yield
    after = {name: os.environ.get(name) for name in names}
    for name, value in before.items():  # restore first, so one leak fails one test
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    assert after == before, f"the test changed MLflow's URIs in the environment: {after}"


@pytest.fixture(autouse=True)
def _fast_tests_train_nothing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """`make test-fast` trains nothing: ``Model.fit`` fails in a test not marked heavy."""
    if request.node.get_closest_marker("heavy"):
        return
    import keras

    def refuse(*_args, **_kwargs):
        raise AssertionError("this test trains a model: mark it `heavy` or use `published`")

    monkeypatch.setattr(keras.Model, "fit", refuse)


def publish_untrained(
    config: Path, overrides: list[str], out: Path, *, tflite: bool = True
) -> SimpleNamespace:
    """Assemble the config's model through its task, untrained, and publish it under ``out``.

    ``tflite=False`` skips the TFLite variants (and the parity report) for tests of
    the SavedModel alone.

    Returns:
        ``model``, ``task``, ``splits``, ``published`` (name, version, paths, card), ``cfg``
        and ``run_dir`` (a run folder holding ``checkpoints/best.keras``, the card naming
        the model, and ``config.yaml``, as ``kerasforge train`` writes them).
    """
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import build_task_model, load_splits
    from kerasforge.serving.card import write_card
    from kerasforge.serving.export.publish import publish

    cfg = load_config(config, [*overrides, f"output_dir={out}"])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    card = task.card(cfg.model.name, splits.info)
    data = task.export_data(model, splits)  # a generator serves latent vectors, not images
    published = publish(
        model, out / "models", cfg.export.model_name, card=card, data=data, tflite=tflite
    )
    run_dir = out / "runs" / "untrained"  # what `kerasforge export` republishes from
    (run_dir / "checkpoints").mkdir(parents=True)
    model.save(run_dir / "checkpoints" / "best.keras")
    write_card(run_dir, card.model_copy(update={"model_name": cfg.export.model_name}))
    (run_dir / "config.yaml").write_text(cfg.to_yaml())
    return SimpleNamespace(
        cfg=cfg, task=task, splits=splits, model=model, published=published, run_dir=run_dir
    )


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A tiny untrained digits classifier published once (SavedModel, .tflite, card)."""
    return publish_untrained(DEFAULT_CONFIG, TINY, tmp_path_factory.mktemp("published"))


@pytest.fixture(scope="session")
def published_once(tmp_path_factory: pytest.TempPathFactory):
    """``publish_untrained`` memoised for the session (per xdist worker): tests that only
    read an untrained export (its model, splits, SavedModel, TFLite files) share one per
    ``(config, overrides, tflite)``; a test that changes the repository publishes its own."""
    made: dict[tuple[str, tuple[str, ...], bool], SimpleNamespace] = {}

    def get(config: Path, overrides: list[str], *, tflite: bool = True) -> SimpleNamespace:
        key = (str(config), tuple(overrides), tflite)
        if key not in made:
            out = tmp_path_factory.mktemp(f"shared-{Path(config).stem}")
            made[key] = publish_untrained(config, overrides, out, tflite=tflite)
        return made[key]

    return get


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """The default experiment, shrunk to a few epochs, trained and published once."""
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.training.train import train

    out = tmp_path_factory.mktemp("trained")
    cfg = load_config(DEFAULT_CONFIG, [*QUICK, f"output_dir={out}"])
    return cfg, train(cfg)


class ServerProcess:
    """A real ``kerasforge serve`` process on free loopback ports (REST ``url``, ``grpc_port``).

    ``repository`` serves a repository; ``None`` serves what ``args`` say
    (``--model_config_file ...`` or ``--model_base_path ...``).
    """

    def __init__(self, repository: Path | None, *args: str) -> None:
        source = ["--repository", str(repository)] if repository is not None else []
        self.grpc_port = 0
        self.proc = subprocess.Popen(
            [
                *CLI,
                "serve",
                *source,
                *args,
                "--rest-port",
                "0",
                "--port",
                "0",
                "--poll-seconds",
                "0.5",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        self.grpc_target: str | None = None
        self.startup: list[str] = []  # what it printed up to its REST address
        self.url = self._wait_for_url(timeout=120)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = self.startup
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            grpc = re.search(r"gRPC API listening on 127\.0\.0\.1:(\d+)", line)
            if grpc:
                self.grpc_port = int(grpc.group(1))
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                return match.group(1)
        self.stop()
        raise RuntimeError("server did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def server(published) -> Iterator[ServerProcess]:
    proc = ServerProcess(published.cfg.output_dir / "models")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def monitored_once(tmp_path_factory: pytest.TempPathFactory):
    """A config's model, untrained, published once per session (per xdist worker) with its
    training statistics (``statistics.json``) beside its card and no TFLite: the model the
    monitoring, drift and skew tests share per ``(config, overrides)``. Returns the
    ``publish_untrained`` fields (less ``run_dir``) plus ``repository`` (this model only), ``name``,
    ``statistics`` (the run's file) and ``loaded`` (``kerasforge.serving.loading.load``)."""
    made: dict[tuple[str, tuple[str, ...]], SimpleNamespace] = {}

    def get(config: Path, overrides: list[str] = ()) -> SimpleNamespace:
        key = (str(config), tuple(overrides))
        if key not in made:
            made[key] = publish_monitored(config, list(overrides), tmp_path_factory)
        return made[key]

    return get


def publish_monitored(
    config: Path, overrides: list[str], factory: pytest.TempPathFactory
) -> SimpleNamespace:
    """The config's model assembled by its task, untrained, and published once (no TFLite)
    with the run's training statistics (the skew check runs as in ``kerasforge train``)."""
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.statistics import compute_statistics
    from kerasforge.pipelines.training.train import build_task_model, load_splits
    from kerasforge.serving.export.publish import publish
    from kerasforge.serving.loading import load
    from kerasforge.serving.monitoring.statistics import write_statistics

    out = factory.mktemp(f"monitored-{Path(config).stem}")
    cfg = load_config(config, [*overrides, f"output_dir={out}"])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    card = task.card(cfg.model.name, splits.info)
    statistics = write_statistics(out, compute_statistics(model, card, splits))
    data = task.export_data(model, splits)
    name, repository = cfg.export.model_name, out / "models"
    published = publish(
        model, repository, name, card=card, data=data, tflite=False, statistics=statistics
    )
    return SimpleNamespace(
        cfg=cfg, task=task, splits=splits, model=model, published=published, out=out,
        repository=repository, name=name, statistics=statistics,
        loaded=load(name, repository=repository),
    )  # fmt: skip
