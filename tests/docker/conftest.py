"""Shared paths and loaders for the deployment-stack tests (docker/).

No Docker engine runs in CI: these tests check the files a Docker engine and a
Kubernetes API server would read, with the validators those tools use (hadolint,
the Compose Specification schema, Kubernetes' OpenAPI schemas, TF Serving's
protos), never by building images.
"""

from __future__ import annotations

import tomllib

import pytest
import yaml

from tests.conftest import ROOT

DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yml"
SERVING = DOCKER / "serving"
K8S = DOCKER / "k8s"
DOCKERFILES = sorted(DOCKER.glob("*/Dockerfile"))


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker/compose.yml as data."""
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict:
    """pyproject.toml as data."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def k8s_objects() -> dict[str, dict]:
    """Every Kubernetes object in docker/k8s/, keyed by kind."""
    objects = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            objects[doc["kind"]] = doc
    return objects
