"""The distribution: one import name, every package in the wheel, extras that hold
what the README promises, and one clear line when an extra is missing.

The fresh-environment cases (``heavy``) install a wheel built here into new
virtual environments with ``uv`` (from the dev extra): its cache hardlinks
TensorFlow into each new environment in seconds once downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kerasforge.cli import extras
from kerasforge.cli.main import build_parser, main
from tests.conftest import ROOT
from tests.wheels import build_wheel, copy_source, fresh_venv, in_venv

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# folder -> package under kerasforge, as pyproject's package-dir maps them
PACKAGE_FOLDERS = {
    folder: package.removeprefix("kerasforge.")
    for package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items()
    if package != "kerasforge"
}

# pyproject distribution -> the module it installs (for the extras' table check).
IMPORT_NAMES = {
    "numpy": "numpy",
    "pydantic": "pydantic",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "tensorflow-serving-api": "tensorflow_serving",
    "grpcio": "grpc",
    "grpcio-health-checking": "grpc_health",
    "aiohttp": "aiohttp",
    "orjson": "orjson",
    "prometheus-client": "prometheus_client",
    "mlflow": "mlflow",
    "scikit-learn": "sklearn",
    "pyyaml": "yaml",
    "pillow": "PIL",
    "ai-edge-litert": "ai_edge_litert",
    "matplotlib": "matplotlib",
    "optuna": "optuna",
    "statsmodels": "statsmodels",
    "tensorboard": "tensorboard",
}


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


# --- the wheel --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_source(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(source, tmp_path_factory.mktemp("dist"))


def test_the_wheel_holds_one_import_name_and_every_package(source, wheel):
    names = zipfile.ZipFile(wheel).namelist()
    version = PYPROJECT["project"]["version"]
    assert {n.split("/")[0] for n in names} == {"kerasforge", f"kerasforge-{version}.dist-info"}
    expected = {str(p.relative_to(source)) for p in (source / "kerasforge").glob("*.py")}
    for folder, package in PACKAGE_FOLDERS.items():
        for init in (source / folder).rglob("__init__.py"):
            expected |= {
                f"kerasforge/{package}/{p.relative_to(source / folder)}"
                for p in init.parent.glob("*.py")
            }
    missing = sorted(expected - set(names))
    assert not missing, f"list their packages in pyproject's [tool.setuptools]: {missing}"


def test_the_console_scripts_point_at_the_dispatchers():
    assert PYPROJECT["project"]["scripts"] == {
        "kerasforge": "kerasforge.cli.main:main",
        "kerasforge-edge": "kerasforge.serving.edge.__main__:main",
    }


# --- the extras -------------------------------------------------------------------------


def test_the_base_is_small_and_the_extras_compose():
    project = PYPROJECT["project"]
    assert requirement_names(project["dependencies"]) == {"numpy", "pydantic"}
    optional = project["optional-dependencies"]
    assert optional["all"] == ["kerasforge[train,serve,edge]"]
    assert "kerasforge[all]" in optional["dev"]
    assert not requirement_names(optional["edge"]) & {"tensorflow", "keras", "mlflow"}
    assert not requirement_names(optional["serve"]) & {"mlflow", "scikit-learn"}


@pytest.mark.parametrize("extra", ["train", "serve", "edge"])
def test_the_extras_table_matches_pyproject(extra):
    declared = requirement_names(PYPROJECT["project"]["optional-dependencies"][extra])
    provided = {IMPORT_NAMES[name] for name in declared} | extras.BASE_MODULES
    assert provided == extras.EXTRA_MODULES[extra] - {"tflite_runtime"}


def test_every_command_names_its_extra():
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = sub.choices
    assert {f"kerasforge {c}" for c in commands} | {"kerasforge-edge"} == set(extras.COMMANDS)
    for needs in extras.COMMANDS.values():
        assert set(needs.modules) <= extras.EXTRA_MODULES[needs.extra]


def test_missing_extra_maps_only_a_missing_top_level_package_of_the_extra():
    def error(name):
        return ModuleNotFoundError(f"No module named {name!r}", name=name)

    found = extras.missing_extra(error("mlflow"), "kerasforge train")
    assert str(found) == (
        "kerasforge train needs the 'train' extra (missing module 'mlflow'): "
        "pip install 'kerasforge[train]'"
    )
    assert extras.missing_extra(error("ai_edge_litert"), "kerasforge-edge").extra == "edge"
    assert extras.missing_extra(error("tensorflow.lite"), "kerasforge serve") is None
    assert extras.missing_extra(error("mlflow"), "kerasforge serve") is None
    assert extras.missing_extra(error("kerasforge.nope"), "kerasforge train") is None
    assert extras.missing_extra(error("mlflow"), "kerasforge nope") is None


def test_the_dispatcher_turns_a_missing_import_into_the_extra(monkeypatch, capsys):
    from kerasforge.pipelines import cli as pipelines_cli

    def lists_nothing(args):
        import sklearn_that_is_absent  # noqa: F401

    def needs_sklearn(args):
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")

    monkeypatch.setattr(pipelines_cli, "cmd_models", needs_sklearn)
    assert main(["models"]) == 2
    assert "kerasforge models needs the 'train' extra (missing module 'sklearn')" in (
        capsys.readouterr().err
    )
    monkeypatch.setattr(pipelines_cli, "cmd_models", lists_nothing)
    with pytest.raises(ModuleNotFoundError):  # not an extra's module: a bug, keep the traceback
        main(["models"])


BLOCKED_RUN = """
import sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
from kerasforge.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("blocked", "args", "extra", "module"),
    [
        ("mlflow", ["train"], "train", "mlflow"),
        ("yaml,tensorflow", ["train"], "train", "yaml"),
        ("tensorflow", ["serve", "--repository", "nowhere"], "serve", "tensorflow"),
        ("keras", ["export", "--checkpoint", "best.keras", "--name", "m"], "serve", "keras"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(blocked, args, extra, module):
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, blocked, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"error: kerasforge {args[0]} needs the {extra!r} extra (missing module {module!r}): "
        f"pip install 'kerasforge[{extra}]'\n"
    )


def test_predict_needs_no_tensorflow(tmp_path):
    missing = str(tmp_path / "missing.json")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKED_RUN,
            "tensorflow,keras,mlflow",
            "predict",
            "--input",
            missing,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: input file "), proc.stderr


def expected_classes(model, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Keras model's probabilities, and the rows whose top two differ clearly."""
    probabilities = np.asarray(model.predict(batch, verbose=0))
    top2 = np.sort(probabilities, axis=-1)[:, -2:]
    return probabilities, top2[:, 1] - top2[:, 0] > 1e-4


@pytest.mark.heavy
def test_the_serve_extra_serves_and_predicts_without_mlflow(wheel, published, tmp_path):
    bin_dir, installed = fresh_venv(wheel, "serve", tmp_path / "venv")
    assert not installed & {"mlflow", "scikit-learn"}, installed
    batch = published.splits.x_test[:8].astype("float32")
    np.save(tmp_path / "batch.npy", batch)
    repository = published.published.path.parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    server = subprocess.Popen(
        [
            *[str(bin_dir / "kerasforge"), "serve", "--repository", str(repository)],
            *["--rest-port", "0", "--port", "0"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        url = server_url(server)
        name = published.published.name
        args = ["predict", "--input", "batch.npy", "--url", url, "--model", name]
        proc = in_venv([str(bin_dir / "kerasforge"), *args], tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr
    predictions = json.loads(proc.stdout)["predictions"]
    probabilities, clear = expected_classes(published.model, batch)
    class_ids = np.array([p["class_ids"] for p in predictions])
    assert clear.any()
    assert (class_ids == probabilities.argmax(-1))[clear].all()

    proc = in_venv([str(bin_dir / "kerasforge"), "train"], tmp_path)
    assert proc.returncode == 2
    assert "kerasforge train needs the 'train' extra" in proc.stderr, proc.stderr
    tflite = str(published.published.tflite_path)
    proc = in_venv([str(bin_dir / "kerasforge-edge"), "predict", tflite, "batch.npy"], tmp_path)
    assert proc.returncode == 2, "the serve extra holds no TFLite runtime"
    assert "kerasforge[edge]" in proc.stderr, proc.stderr


def server_url(server: subprocess.Popen) -> str:
    """The REST URL a ``kerasforge serve`` process prints once it listens."""
    assert server.stdout is not None
    seen = []
    for line in server.stdout:  # ends if the server exits
        seen.append(line)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return match.group(1)
    raise AssertionError("serve did not start:\n" + "".join(seen))
