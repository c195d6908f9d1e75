"""README's "From a notebook" example, run as written on a shrunk copy of its config; then
``kerasforge runs list`` over the store that real training wrote."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys

import numpy as np
import pytest
import yaml

from tests.conftest import DEFAULT_CONFIG, ROOT, run_cli

pytestmark = pytest.mark.heavy  # trains


def notebook_example() -> str:
    """The Python block of README's "From a notebook" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## From a notebook\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return code


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The example executed in a folder whose configs/digits_cnn.yaml is the real one with
    a tiny model and no TFLite variants; what it printed and its variables."""
    folder = tmp_path_factory.mktemp("notebook")
    tree = yaml.safe_load(DEFAULT_CONFIG.read_text())
    tree["model"]["options"].update(filters=[4], dense_units=8)
    tree["export"]["tflite"] = False
    (folder / "configs").mkdir()
    (folder / "configs" / "digits_cnn.yaml").write_text(yaml.safe_dump(tree))
    namespace: dict = {}
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.chdir(folder)
        patch.delenv("KERASFORGE_VERBOSE", raising=False)
        with fd2_to(folder / "stderr.txt"):
            exec(compile(notebook_example(), "README.md", "exec"), namespace)
    return folder, namespace, printed.getvalue()


@contextlib.contextmanager
def fd2_to(path):
    """What the block writes to file descriptor 2 goes to ``path``: native code's, and Python's
    through a ``sys.stderr`` on fd 2, as in a script (pytest's own points elsewhere)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as sink, open(2, "w", buffering=1, closefd=False) as on_fd2:
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stderr(on_fd2):
                yield
        finally:
            on_fd2.flush()
            os.dup2(saved, 2)
            os.close(saved)


def test_the_readme_example_trains_loads_and_predicts_like_keras(ran):
    folder, names, printed = ran
    result, model, outputs = names["result"], names["model"], names["outputs"]
    assert result.epochs_run == 3, "the example's override"
    assert result.headline[0] == "accuracy" and str(result.headline) in printed
    assert result.outcome.note in printed
    assert model.version == result.published.version == 1
    assert model.path.resolve() == (folder / "artifacts" / "models" / "digits_cnn" / "1").resolve()
    x = result.splits.x_test[:4].astype("float32")
    expected = result.model.predict(x, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(outputs["class_ids"].reshape(-1), expected)


def test_the_example_prints_no_library_log_line(ran):
    folder, _, _ = ran
    stderr = (folder / "stderr.txt").read_text()
    # MLflow's registry prints these (not through logging) when the run registers its model;
    # kerasforge.train is quiet as `kerasforge train` is (KERASFORGE_VERBOSE=1 shows them).
    assert "Successfully registered model" not in stderr, stderr
    assert "Created version '1' of model" not in stderr, stderr
    assert " INFO mlflow." not in stderr, stderr  # its store's "Creating initial ... tables"


def test_runs_list_shows_the_notebooks_run_as_the_gate_judged_it(ran):
    folder, names, _ = ran
    result = names["result"]
    proc = run_cli("runs", "list", "--json", "--uri", f"sqlite:///{folder / 'artifacts/mlflow.db'}")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["run_id"] == result.run_id and row["status"] == "FINISHED"
    assert (row["metric"], row["mode"]) == ("accuracy", "max")
    assert row["value"] == pytest.approx(result.test_metrics["test_accuracy"])
    assert row["baseline"] == pytest.approx(result.gate.baseline)
    assert row["gate"] == "passed" and row["version"] == "1" and row["aliases"] == ["champion"]
