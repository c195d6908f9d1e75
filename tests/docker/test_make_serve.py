"""`make serve` picks its engine by asking Docker, and the stack's preflight.

docker/serve.sh --dry-run prints the command it would run. The Docker engine is
absent here, so its side is exercised with a `docker` that answers `info`
successfully; nothing is built or started.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT
from tests.docker.conftest import DOCKER, SERVING


def dry_run(tmp_path, repository, docker_exit: int | None) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "dirname", "printf", "mkdir"):
        target = bin_dir / tool
        if not target.exists():
            found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
            if found:
                target.symlink_to(found)
    if docker_exit is not None:
        docker = bin_dir / "docker"
        docker.write_text(f"#!/bin/sh\nexit {docker_exit}\n")
        docker.chmod(0o755)
    env = {"PATH": str(bin_dir), "REPOSITORY": str(repository), "HOME": str(tmp_path)}
    return subprocess.run(
        [str(bin_dir / "bash"), str(DOCKER / "serve.sh"), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


def test_without_a_docker_engine_it_runs_the_embedded_server(tmp_path):
    for docker_exit in (None, 1):  # no docker command; a docker whose engine is down
        proc = dry_run(tmp_path, tmp_path, docker_exit)
        assert proc.returncode == 0, proc.stderr
        assert "-> embedded server (kerasforge serve)" in proc.stdout
        assert f"serve --repository {tmp_path} --host 127.0.0.1 --rest-port 8501 --port 8500" in (
            proc.stdout
        )


def test_with_a_docker_engine_it_runs_tf_serving_over_the_same_repository(tmp_path):
    proc = dry_run(tmp_path, tmp_path, 0)
    assert proc.returncode == 0, proc.stderr
    assert "Docker engine found -> TF Serving" in proc.stdout
    assert "build --quiet --file docker/serving/Dockerfile" in proc.stdout
    assert f"type=bind,source={tmp_path},target=/models,readonly" in proc.stdout
    assert "--publish 127.0.0.1:8501:8501" in proc.stdout
    assert "--publish 127.0.0.1:8500:8500" in proc.stdout
    assert f"source={SERVING / 'models.config'},target=/config/models.config" in proc.stdout


def test_a_missing_repository_is_one_clear_line(tmp_path):
    proc = dry_run(tmp_path, tmp_path / "nope", None)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"make serve: no model repository at {tmp_path / 'nope'}; "
        "run 'make train' first (or set REPOSITORY=...)"
    )


def check_repository(repository) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DOCKER / "check_repository.py"), "--repository", str(repository)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_preflight_accepts_a_published_repository(published):
    proc = check_repository(published.cfg.output_dir / "models")
    assert proc.returncode == 0, proc.stderr


def test_preflight_names_what_is_missing(tmp_path):
    (tmp_path / "digits_cnn" / "2").mkdir(parents=True)
    proc = check_repository(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"check_repository: digits_cnn: version 1 missing from {tmp_path / 'digits_cnn'}"
    )


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    documented = set(re.findall(r"^([a-z][\w-]*):.*## ", makefile, re.MULTILINE))
    assert {"serve", "stack-up", "stack-train", "stack-down"} <= documented
    assert targets == documented, f"targets without a ## description: {targets - documented}"
