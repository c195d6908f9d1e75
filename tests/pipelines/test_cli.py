from __future__ import annotations

import pytest

from kerasforge.pipelines.cli import build_parser, main, read_instances
from tests.conftest import run_cli


def test_help_lists_every_subcommand():
    text = build_parser().format_help()
    for command in ("train", "serve", "predict", "export", "models"):
        assert command in text


def test_models_lists_the_registry():
    proc = run_cli("models", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "digits_cnn"
    assert "dropout=0.25" in proc.stdout
    assert proc.stderr.strip() == "", "native start-up chatter must stay hidden"


def test_set_accepts_several_pairs():
    args = build_parser().parse_args(["train", "--set", "a.b=1", "c.d=x", "--set", "e=2"])
    assert args.set == ["a.b=1", "c.d=x", "e=2"]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("{", ".json", "not valid JSON"),
        ('{"x": 1}', ".json", "expected a .npy batch"),
        ("1,2", ".csv", "expected a .npy batch"),
    ],
)
def test_read_instances_rejects_bad_files(tmp_path, capsys, content, suffix, message):
    path = tmp_path / f"input{suffix}"
    path.write_text(content)
    assert main(["predict", "--input", str(path)]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(Exception, match=message):
        read_instances(path)


def test_export_republishes_a_checkpoint(trained, tmp_path):
    _, result = trained
    checkpoint = result.run_dir / "checkpoints" / "best.keras"
    proc = run_cli(
        "export",
        "--checkpoint",
        str(checkpoint),
        "--repository",
        str(tmp_path),
        "--name",
        "digits_cnn",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "published digits_cnn version 1" in proc.stdout
    assert (tmp_path / "digits_cnn" / "1" / "model.tflite").is_file()
    card = (tmp_path / "digits_cnn" / "1" / "kerasforge.json").read_text()
    assert '"class_names"' in card


def test_export_of_a_file_that_is_no_model_fails_clearly(tmp_path):
    bogus = tmp_path / "best.keras"
    bogus.write_text("not a model")
    proc = run_cli("export", "--checkpoint", str(bogus), "--repository", str(tmp_path / "repo"))
    assert proc.returncode == 2
    assert "cannot load" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "repo" / "digits_cnn" / "1").exists()


def test_predict_with_a_bad_url_fails_clearly(tmp_path, capsys):
    path = tmp_path / "one.json"
    path.write_text("[[1]]")
    assert main(["predict", "--input", str(path), "--url", "127.0.0.1:8501"]) == 2
    assert "bad server URL" in capsys.readouterr().err


def test_serve_on_an_empty_repository_fails_clearly(tmp_path):
    proc = run_cli("serve", "--repository", str(tmp_path), "--rest-port", "0", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no model to serve")
