"""Scale-out options: strategies from config, mixed precision refused on CPU, XLA switch."""

from __future__ import annotations

import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.errors import ConfigError
from kerasforge.pipelines.training.cluster import is_chief
from kerasforge.pipelines.training.strategy import check_mixed_precision, make_strategy
from tests.conftest import run_cli


@pytest.mark.heavy
def test_mixed_precision_on_a_cpu_machine_is_refused_with_the_reason(tmp_path):
    proc = run_cli(
        "train", "--set", "train.scale.mixed_precision=mixed_float16", f"output_dir={tmp_path}"
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "slower than float32" in lines[0] and "force_mixed_precision=true" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_forced_mixed_precision_and_off_pass_the_check():
    check_mixed_precision("mixed_bfloat16", forced=True)
    check_mixed_precision("off", forced=False)


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG must be JSON"):
        make_strategy("multi_worker")


def test_chief_is_worker_zero(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    monkeypatch.setenv(
        "TF_CONFIG",
        '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}',
    )
    assert not is_chief()


def test_default_strategy_and_jit_options():
    import tensorflow as tf

    assert make_strategy("default") is tf.distribute.get_strategy()
    cfg = load_config(None, ["train.scale.jit_compile=false", "train.scale.strategy=mirrored"])
    assert cfg.train.scale.jit_compile is False
    assert load_config(None, []).train.scale.jit_compile == "auto"
    with pytest.raises(ConfigError, match=r"train\.scale\.strategy"):
        load_config(None, ["train.scale.strategy=horovod"])
