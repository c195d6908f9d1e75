"""docker/compose.yml is a valid Compose file and a production-grade stack.

Validated against the Compose Specification's JSON schema, the one Docker
Compose itself validates with: `check-jsonschema` (dev extra) ships a copy
(`check_jsonschema/builtin_schemas/vendor/compose-spec.json`, from the
compose-spec/compose-spec repository, Apache-2.0, licence beside it in
`vendor/licenses/`), read here through jsonschema.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from importlib.resources import files

import jsonschema
import pytest

from tests.conftest import ROOT
from tests.docker.conftest import COMPOSE, DOCKER

LONG_RUNNING = ["tf-serving", "mlflow", "postgres", "minio"]
ONE_SHOT = ["minio-init", "trainer"]


def compose_errors(document: dict) -> list[str]:
    text = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(text.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_validates_against_the_compose_specification(compose):
    assert compose_errors(compose) == []


def test_the_schema_rejects_a_misspelt_key(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["tf-serving"]["helthcheck"] = broken["services"]["tf-serving"].pop(
        "healthcheck"
    )
    assert any("helthcheck" in error for error in compose_errors(broken))


def test_the_stack_runs_serving_tracking_storage_and_the_trainer(compose):
    assert set(compose["services"]) == {*LONG_RUNNING, *ONE_SHOT}
    mlflow = compose["services"]["mlflow"]["environment"]
    assert mlflow["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in mlflow["MLFLOW_BACKEND_STORE_URI"]
    assert mlflow["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert mlflow["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    trainer = compose["services"]["trainer"]
    assert trainer["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert trainer["depends_on"]["mlflow"]["condition"] == "service_healthy"


def test_published_ports_bind_loopback_only(compose):
    published = {
        port for service in compose["services"].values() for port in service.get("ports", [])
    }
    assert published, "nothing published"
    assert all(port.startswith("127.0.0.1:") for port in published), published
    rest = {p.rsplit(":", 1)[1] for p in compose["services"]["tf-serving"]["ports"]}
    assert rest == {"8500", "8501"}
    assert compose["services"]["mlflow"]["ports"] == ["127.0.0.1:${MLFLOW_PORT:-5000}:5000"]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_are_probed_limited_and_restarted(compose, name):
    service = compose["services"][name]
    probe = " ".join(service["healthcheck"]["test"])
    assert probe.startswith("CMD") and "/dev/tcp" not in probe
    assert service["deploy"]["resources"]["limits"]["memory"]
    assert service["restart"] == "unless-stopped"
    assert "no-new-privileges:true" in service["security_opt"]


def test_dependencies_wait_for_health(compose):
    mlflow = compose["services"]["mlflow"]["depends_on"]
    assert mlflow["postgres"]["condition"] == "service_healthy"
    assert mlflow["minio-init"]["condition"] == "service_completed_successfully"


def test_model_repository_is_mounted_read_only(compose):
    models, config = compose["services"]["tf-serving"]["volumes"]
    assert models == {
        "type": "bind",
        "source": "../artifacts/models",
        "target": "/models",
        "read_only": True,
    }
    assert config["source"] == "./serving/models.config" and config["read_only"] is True
    assert config["target"] == "/config/models.config"
    assert compose["services"]["tf-serving"]["read_only"] is True


def test_images_are_pinned_and_builds_exist(compose, pyproject):
    version = pyproject["project"]["version"]
    assert set(re.findall(r"KERASFORGE_VERSION:-([\w.]+)", COMPOSE.read_text())) == {version}
    assert f"KERASFORGE_VERSION={version}\n" in (DOCKER / ".env.example").read_text()
    for name, service in compose["services"].items():
        image = service["image"]
        assert re.search(r":(\$\{KERASFORGE_VERSION:-\d+\.\d+\.\d+\}|[\w.-]*\d[\w.-]*)$", image), (
            f"{name}: unpinned image {image}"
        )
        if "build" in service:
            assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).exists()


def test_no_secret_is_committed(compose):
    text = COMPOSE.read_text()
    for key in ["POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "MLFLOW_S3_SECRET_KEY"]:
        assert re.search(rf"\$\{{{key}:\?", text), f"{key} must come from docker/.env"
        assert not re.search(rf"{key}:-", text), f"{key} has a default value in compose.yml"
    env_example = (DOCKER / ".env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    defined = set(re.findall(r"^(\w+)=", env_example, re.MULTILINE))
    assert required <= defined, f"missing from docker/.env.example: {required - defined}"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT, capture_output=True
    )
    assert ignored.returncode == 0, "docker/.env must be git-ignored"


def test_one_shot_bucket_setup_is_valid_shell(compose):
    """Compose turns `$$` into `$`; what is left must parse as POSIX sh."""
    service = compose["services"]["minio-init"]
    assert service["entrypoint"] == ["/bin/sh", "-ec"]
    script = service["command"][0].replace("$$", "$")
    proc = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "readwrite" not in script, "MLflow's key must be limited to its bucket"
