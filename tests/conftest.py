"""Shared fixtures: one small trained-and-published model for the whole session."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests use their own local stores

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "kerasforge.pipelines.cli"]
QUICK = ["train.epochs=6", "train.early_stopping_patience=2"]


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``kerasforge`` as a user would, in a subprocess."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """The default experiment, shrunk to a few epochs, trained and published once."""
    from kerasforge.pipelines.config import load_config
    from kerasforge.pipelines.train import train

    out = tmp_path_factory.mktemp("trained")
    cfg = load_config(ROOT / "configs" / "digits_cnn.yaml", [*QUICK, f"output_dir={out}"])
    return cfg, train(cfg)


class ServerProcess:
    """A real ``kerasforge serve`` process on a free loopback port."""

    def __init__(self, repository: Path) -> None:
        self.proc = subprocess.Popen(
            [
                *CLI,
                "serve",
                "--repository",
                str(repository),
                "--rest-port",
                "0",
                "--poll-seconds",
                "0.5",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        self.url = self._wait_for_url(timeout=120)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
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
def server(trained) -> Iterator[ServerProcess]:
    cfg, _ = trained
    proc = ServerProcess(cfg.output_dir / "models")
    yield proc
    proc.stop()
