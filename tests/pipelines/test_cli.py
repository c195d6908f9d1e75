"""``kerasforge train`` and ``kerasforge models`` (``kerasforge.pipelines.cli``)."""

from __future__ import annotations

import pytest

from kerasforge.cli.main import build_parser
from tests.conftest import run_cli, run_cli_probe


def test_help_lists_every_subcommand():
    text = build_parser().format_help()
    for command in ("train", "serve", "predict", "export", "models"):
        assert command in text


@pytest.mark.heavy
def test_models_lists_the_registry():
    proc = run_cli("models", "[dm][il]*", timeout=120)  # digits_cnn, mlp
    assert proc.returncode == 0, proc.stderr
    heading, first, *_ = proc.stdout.splitlines()  # the heading comes before TensorFlow (#23)
    assert heading == "2 model(s) matching '[dm][il]*' (loading TensorFlow) ..."
    assert first.split()[0] == "digits_cnn"
    assert "dropout=0.25" in proc.stdout
    assert "mlp              [classification, regression]" in proc.stdout
    assert "parameters: 82,666 at input 8x8x1" in proc.stdout, "counted at the default input"
    assert proc.stderr.strip() == "", "native start-up chatter must stay hidden"


@pytest.mark.heavy
def test_models_filters_by_pattern_with_descriptions_and_parameter_counts():
    proc = run_cli("models", "resnet5*", timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.splitlines()[1:]  # after the heading
    names = [line.split()[0] for line in listed if not line.startswith(" ")]
    assert names == ["resnet50", "resnet56"]
    assert "ResNet-50 v1: bottleneck blocks" in proc.stdout
    assert "parameters: 25,636,712 at input 224x224x3" in proc.stdout


@pytest.mark.heavy
def test_models_aligns_long_names_and_names_a_text_input(capsys):
    from kerasforge.cli.main import main

    assert main(["models", "dense_*"]) == 0 and main(["models", "transformer_*"]) == 0
    _, dense, dense_params, _, _, text, text_params, _ = capsys.readouterr().out.splitlines()
    assert dense.startswith("dense_autoencoder [anomaly_detection] ")
    assert dense_params.startswith(" " * 18 + "parameters: "), "one column under a long name"
    assert "`widths`" in dense and "``" not in dense, "a docstring's markup, as a terminal shows it"
    assert text.startswith("transformer_classifier [classification] ")
    assert text_params.endswith(" at input one string value")


def test_set_accepts_several_pairs():
    args = build_parser().parse_args(["train", "--set", "a.b=1", "c.d=x", "--set", "e=2"])
    assert args.set == ["a.b=1", "c.d=x", "e=2"]


def test_a_bad_config_fails_before_tensorflow_starts():
    proc, modules = run_cli_probe("train", "--set", "train.epochs=0")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "train.epochs" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not {m.split(".")[0] for m in modules} & {"tensorflow", "keras", "mlflow"}


def test_a_missing_config_file_fails_clearly(tmp_path):
    proc = run_cli("train", "--config", str(tmp_path / "nope.yaml"), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "nope.yaml" in proc.stderr
