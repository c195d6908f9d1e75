"""`make serve` picks its engine by asking Docker, and the stack's preflight.

docker/serve.sh --dry-run prints the command it would run. The Docker engine is
absent here, so its side is exercised with a `docker` that answers `info`
successfully; nothing is built or started. The embedded side also runs for real:
the shipped models.config (labels) and monitoring.config, served by `kerasforge serve`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.docker.conftest import DOCKER, SERVING


def dry_run(
    tmp_path, repository, docker_exit: int | None, **settings: str
) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "dirname", "printf", "mkdir", "mv", "cp"):
        target = bin_dir / tool
        if not target.exists():
            found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
            if found:
                target.symlink_to(found)
    if docker_exit is not None:
        docker = bin_dir / "docker"
        docker.write_text(f"#!/bin/sh\nexit {docker_exit}\n")
        docker.chmod(0o755)
    env = {
        "PATH": str(bin_dir),
        "REPOSITORY": str(repository),
        "HOME": str(tmp_path),
        "SERVE_DIR": str(tmp_path / "serve"),
        **settings,
    }
    return subprocess.run(
        [str(bin_dir / "bash"), str(DOCKER / "serve.sh"), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


def test_without_a_docker_engine_it_runs_the_embedded_server(tmp_path):
    # The flags of docker/serving/Dockerfile's ENTRYPOINT (TF Serving's main.cc names).
    for docker_exit in (None, 1):  # no docker command; a docker whose engine is down
        proc = dry_run(tmp_path, tmp_path, docker_exit)
        assert proc.returncode == 0, proc.stderr
        assert "-> embedded server (kerasforge serve)" in proc.stdout
        config = tmp_path / "serve" / "models.config"
        assert f"serve --model_config_file {config} " in proc.stdout
        assert "--monitoring_config_file docker/serving/monitoring.config" in proc.stdout
        assert "--batching_parameters_file docker/serving/batching_parameters.txt" in proc.stdout
        assert "--host 127.0.0.1 --rest-port 8501 --port 8500" in proc.stdout
        assert "--repository" not in proc.stdout
        base_paths = re.findall(r'base_path: "([^"]*)"', config.read_text())
        assert base_paths == [f"{tmp_path}/digits_cnn"]  # was /models/digits_cnn
    proc = dry_run(tmp_path, tmp_path, None, HOST="0.0.0.0")
    assert "--host 0.0.0.0 " in proc.stdout


def test_with_a_docker_engine_it_runs_tf_serving_over_the_same_repository(tmp_path):
    proc = dry_run(tmp_path, tmp_path, 0)
    assert proc.returncode == 0, proc.stderr
    assert "Docker engine found -> TF Serving" in proc.stdout
    assert "build --quiet --file docker/serving/Dockerfile" in proc.stdout
    assert f"type=bind,source={tmp_path},target=/models,readonly" in proc.stdout
    assert "--publish 127.0.0.1:8501:8501" in proc.stdout
    assert "--publish 127.0.0.1:8500:8500" in proc.stdout
    # /config is a folder holding what the image's ENTRYPOINT reads there: a folder, so that
    # the models.config a running `make serve` renders again (a rename) reaches TF Serving.
    config_dir = tmp_path / "serve" / "container"
    assert f"source={config_dir},target=/config,readonly" in proc.stdout
    assert (config_dir / "models.config").read_text() == (SERVING / "models.config").read_text()
    for name in ("monitoring.config", "batching_parameters.txt"):
        assert (config_dir / name).read_bytes() == (SERVING / name).read_bytes()


REPOSITORY_CONFIG = """model_config_list {{
  config {{ name: "digits_cnn" base_path: "{root}/digits_cnn" model_platform: "tensorflow" }}
  config {{ name: "diabetes_mlp" base_path: "{root}/diabetes_mlp" model_platform: "tensorflow" }}
}}
"""


def test_a_repository_with_its_own_models_config_is_served_by_it(tmp_path):
    # Training writes <repository>/models.config (every published model, its labels): after a
    # second config, `make serve` must serve that model too, on either engine.
    repository = tmp_path / "models"
    repository.mkdir()
    (repository / "models.config").write_text(REPOSITORY_CONFIG.format(root=repository))
    embedded = dry_run(tmp_path, repository, None)
    assert embedded.returncode == 0, embedded.stderr
    assert f"over {repository} with {repository / 'models.config'}" in embedded.stdout
    local = (tmp_path / "serve" / "models.config").read_text()
    assert re.findall(r'base_path: "([^"]*)"', local) == [
        f"{repository}/digits_cnn",
        f"{repository}/diabetes_mlp",
    ]
    docker = dry_run(tmp_path, repository, 0)
    assert docker.returncode == 0, docker.stderr
    container = (tmp_path / "serve" / "container" / "models.config").read_text()
    assert re.findall(r'base_path: "([^"]*)"', container) == [
        "/models/digits_cnn",
        "/models/diabetes_mlp",
    ]
    shipped = dry_run(tmp_path, repository, None, MODEL_CONFIG="docker/serving/models.config")
    assert "with docker/serving/models.config" in shipped.stdout


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


def start_embedded(
    tmp_path: Path, repository: Path, **settings: str
) -> tuple[subprocess.Popen, Path]:
    """docker/serve.sh with a Docker engine that is down, so it runs the embedded server over
    ``repository`` on free loopback ports; the process (the server, once serve.sh exec'd it)
    and its log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 1\n")  # an engine that is down
    (bin_dir / "docker").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "REPOSITORY": str(repository),
        "REST_PORT": "0",
        "GRPC_PORT": "0",
        "SERVE_DIR": str(tmp_path / "serve"),
        "KERASFORGE": str(Path(sys.executable).parent / "kerasforge"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **settings,
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", str(DOCKER / "serve.sh")], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    return proc, log


def wait_for_url(log: Path, proc: subprocess.Popen, timeout: float = 120) -> str:
    """The REST address the server prints once it listens (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"listening on (http://[\d.]+:\d+)", log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError("docker/serve.sh's embedded server did not start:\n" + log.read_text())


@pytest.mark.heavy
def test_the_embedded_fallback_serves_the_shipped_configs(published, tmp_path):
    # Expectations: docker/serving/models.config (label "stable" -> version 1), and
    # docker/serving/monitoring.config's path, as TF Serving serves them (its
    # http_rest_api_handler.cc label route; util/prometheus_exporter.cc families).
    proc, log = start_embedded(tmp_path, published.cfg.output_dir / "models")
    try:
        url = wait_for_url(log, proc)
        assert url.startswith("http://127.0.0.1:")  # HOST unset: loopback only
        rows = published.splits.x_test[:2].tolist()
        req = urllib.request.Request(
            f"{url}/v1/models/digits_cnn/labels/stable:predict",
            data=json.dumps({"instances": rows}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert len(json.loads(resp.read())["predictions"]) == 2
        with urllib.request.urlopen(f"{url}/monitoring/prometheus/metrics", timeout=30) as resp:
            text = resp.read().decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        counts = families[":tensorflow:serving:request_count"].samples
        assert [(s.labels, s.value) for s in counts] == [
            ({"model_name": "digits_cnn", "status": "OK"}, 1.0)
        ]
        assert "kerasforge_requests" in families
    finally:
        proc.terminate()  # serve.sh exec'd the server: this pid is kerasforge itself
        proc.wait(timeout=30)


def _stable_version(url: str) -> str | None:
    """The version GET /v1/models/digits_cnn/labels/stable reports (TF Serving's
    GetModelStatus route, http_rest_api_handler.cc), or None while it answers an error."""
    try:
        with urllib.request.urlopen(f"{url}/v1/models/digits_cnn/labels/stable", timeout=30) as r:
            (status,) = json.loads(r.read())["model_version_status"]
            return status["version"]
    except urllib.error.HTTPError:
        return None


@pytest.mark.heavy
def test_a_running_make_serve_serves_the_stable_a_later_release_writes(published, tmp_path):
    """A second `make train` whose model passes its gate rewrites the repository's
    models.config (stable -> 2) while `make serve` runs; the server must switch to it
    without a restart, as the README promises (serve.sh renders its copy again, the
    server polls the copy)."""
    from kerasforge.serving.export.tf_serving_config import set_model_entry

    repository = tmp_path / "models"
    shutil.copytree(published.cfg.output_dir / "models" / "digits_cnn", repository / "digits_cnn")
    shutil.copytree(repository / "digits_cnn" / "1", repository / "digits_cnn" / "2")
    set_model_entry(repository, "digits_cnn", {"stable": 1})  # as the first release writes it
    polls = {"CONFIG_POLL_SECONDS": "1", "CONFIG_SYNC_SECONDS": "0.2"}
    proc, log = start_embedded(tmp_path, repository, **polls)
    try:
        url = wait_for_url(log, proc)
        assert _followers(tmp_path), "serve.sh follows models.config while the server runs"
        assert _stable_when_settled(url, "1") == "1", log.read_text()[-3000:]
        set_model_entry(repository, "digits_cnn", {"stable": 2, "canary": 1})  # the release
        assert _stable_when_settled(url, "2") == "2", log.read_text()[-3000:]
    finally:
        proc.terminate()  # serve.sh exec'd the server: this pid is kerasforge itself
        proc.wait(timeout=30)
    deadline = time.monotonic() + 10  # the follower ends with the server
    while _followers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _followers(tmp_path), "serve.sh's config follower outlived the server"


def _stable_when_settled(url: str, expected: str, timeout: float = 120) -> str | None:
    """The version ``stable`` names, polled until it is ``expected`` (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (found := _stable_version(url)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _followers(tmp_path: Path) -> list[int]:
    """Processes still running docker/serve.sh with this test's SERVE_DIR (its follower)."""
    mark = f"SERVE_DIR={tmp_path / 'serve'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"serve.sh" in cmdline and mark in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue  # gone, or not a process
    return found
