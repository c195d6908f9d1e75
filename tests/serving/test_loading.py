"""``kerasforge.load``: a published model in this process, chosen, loaded and called as the
server does; its predictions equal the Keras model's; bad names and inputs are one line."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

import kerasforge
from kerasforge.serving.errors import ServingError
from kerasforge.serving.export.tf_serving_config import set_model_entry
from tests.conftest import DEFAULT_CONFIG, ROOT, TINY, publish_untrained

pytestmark = pytest.mark.heavy  # exports a model


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A tiny digits classifier as versions 1 and 2 (a copy); models.config serves 1 stable."""
    out = tmp_path_factory.mktemp("loading")
    made = publish_untrained(DEFAULT_CONFIG, TINY, out, tflite=False)
    models = out / "models"
    shutil.copytree(models / "digits_cnn" / "1", models / "digits_cnn" / "2")
    set_model_entry(models, "digits_cnn", {"stable": 1})
    made.repository = models
    return made


def test_predictions_equal_the_keras_model_for_numpy_and_python_inputs(repo):
    model = kerasforge.load("digits_cnn", repository=repo.repository)
    assert (model.name, model.version) == ("digits_cnn", 1), "the version models.config serves"
    assert model.card is not None and model.card.task == "classification"
    assert "serving_default" in model.signatures
    x = repo.splits.x_test[:5]  # float64: cast to the signature's float32
    expected = repo.model.predict(x.astype("float32"), verbose=0)
    outputs = model.predict(x)
    (main,) = [v for v in outputs.values() if v.shape == expected.shape]
    np.testing.assert_allclose(main, expected, rtol=1e-5, atol=1e-6)
    from_lists = model.predict(x.tolist())
    np.testing.assert_allclose(from_lists[next(iter(outputs))], outputs[next(iter(outputs))])
    (name,) = model.inputs()
    by_name = model.predict({name: x})
    assert by_name.keys() == outputs.keys()


def test_versions_and_labels_are_chosen_as_the_server_chooses(repo):
    assert kerasforge.load("digits_cnn", version=2, repository=repo.repository).version == 2
    assert kerasforge.load("digits_cnn", label="stable", repository=repo.repository).version == 1
    no_label = r"no version label 'canary' in .*models\.config' \(labels: stable=1\)"
    with pytest.raises(ServingError, match=no_label):
        kerasforge.load("digits_cnn", label="canary", repository=repo.repository)
    with pytest.raises(ServingError, match=r"no version 7; published: 1, 2"):
        kerasforge.load("digits_cnn", version=7, repository=repo.repository)
    with pytest.raises(ServingError, match=r"no published model 'nope' .* there: digits_cnn"):
        kerasforge.load("nope", repository=repo.repository)


def test_inputs_that_do_not_fit_get_the_servers_message(repo):
    model = kerasforge.load("digits_cnn", repository=repo.repository)
    with pytest.raises(ServingError, match="not of expected type: float"):
        model.predict([["a"]])
    with pytest.raises(ServingError, match="signature"):
        model.predict(repo.splits.x_test[:1], signature="nope")
    with pytest.raises(ServingError, match="unknown input"):
        model.predict({"pixels": repo.splits.x_test[:1], "extra": [1.0]})


def test_the_package_root_stays_light_and_load_loads_no_mlflow_or_training_code():
    probe = (
        "import sys, kerasforge\n"
        "assert not {'tensorflow', 'keras', 'mlflow'} & set(sys.modules), 'import kerasforge'\n"
        "kerasforge.load\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'mlflow'\n"
        "       or m.startswith('kerasforge.pipelines.training')]\n"
        "assert not bad, bad\n"
        "assert callable(kerasforge.train) and 'train' in dir(kerasforge)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
