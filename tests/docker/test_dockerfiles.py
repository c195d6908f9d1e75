"""The Dockerfiles lint clean with hadolint and pin what they install.

Images are not built here (no Docker engine in CI); what can be checked without
one is: hadolint's rules, pinned base images, an unprivileged final user, a
health check for the long-running services, and Python pins that agree with
pyproject.toml.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.conftest import dev_tool
from tests.docker.conftest import DOCKER, DOCKERFILES


def hadolint(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [dev_tool("hadolint"), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def instructions(path, keyword: str) -> list[str]:
    """Arguments of every `keyword` instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(keyword + " ")]


def test_every_image_has_a_dockerfile():
    assert {p.parent.name for p in DOCKERFILES} == {"mlflow", "serving", "train"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_lints_clean(path):
    proc = hadolint(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install mlflow\n")
    proc = hadolint(bad)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout and "DL3013" in proc.stdout


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_image_is_pinned_and_final_user_unprivileged(path):
    (base,) = instructions(path, "FROM")
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", base), f"unpinned base image {base}"
    users = instructions(path, "USER")
    assert users, f"{path} runs as root: add a USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("name", ["serving", "mlflow"])
def test_long_running_images_probe_their_service(name):
    (check,) = instructions(DOCKER / name / "Dockerfile", "HEALTHCHECK")
    assert "CMD" in check and ("healthcheck" in check or "/health" in check)


def test_serving_image_matches_the_tensorflow_that_exports(pyproject):
    (base,) = instructions(DOCKER / "serving" / "Dockerfile", "FROM")
    tag = Version(base.split(":")[1])
    spec = extra(pyproject, "train")["tensorflow"]
    assert tag in spec.specifier, f"tensorflow/serving:{tag} vs pyproject {spec}"


@pytest.mark.parametrize("name", ["train", "mlflow"])
def test_python_base_satisfies_requires_python(name, pyproject):
    (base,) = instructions(DOCKER / name / "Dockerfile", "FROM")
    version = Version(re.match(r"python:(\d+\.\d+\.\d+)", base).group(1))
    assert version in SpecifierSet(pyproject["project"]["requires-python"])


def pins(path) -> dict[str, Version]:
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path}: {line} is not an exact pin"
            found[req.name.lower()] = Version(spec.version)
    return found


def extra(pyproject, name: str) -> dict[str, Requirement]:
    reqs = [*pyproject["project"]["dependencies"]]
    reqs += pyproject["project"]["optional-dependencies"][name]
    return {(r := Requirement(line)).name.lower(): r for line in reqs}


def test_training_image_pins_exactly_the_train_extra(pyproject):
    wanted = extra(pyproject, "train")
    pinned = pins(DOCKER / "train" / "requirements.txt")
    missing, extra_pins = set(wanted) - set(pinned), set(pinned) - set(wanted)
    assert not missing, (
        f"kerasforge[train] needs {missing}: pin them in docker/train/requirements.txt"
    )
    assert not extra_pins, f"docker/train/requirements.txt pins {extra_pins}, not in [train]"
    for name, version in pinned.items():
        assert version in wanted[name].specifier, f"{name}=={version} vs pyproject {wanted[name]}"


def test_mlflow_image_runs_the_mlflow_training_logs_with(pyproject):
    pinned = pins(DOCKER / "mlflow" / "requirements.txt")
    assert pinned["mlflow"] in extra(pyproject, "train")["mlflow"].specifier
    assert {"psycopg2-binary", "boto3"} <= set(pinned)
