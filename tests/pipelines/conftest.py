"""Fixtures shared by the tracking tests."""

from __future__ import annotations

import pytest

from tests.pipelines.mlflow_servers import MlflowServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A real ``mlflow server`` (SQLite backend, served artifacts) for one test module."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    running = MlflowServer(f"sqlite:///{folder / 'backend.db'}", folder / "artifacts").start()
    yield running
    running.stop()
