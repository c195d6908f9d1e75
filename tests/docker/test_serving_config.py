"""TF Serving's config files in docker/serving/ parse as TF Serving reads them
and point at the model repository where compose and Kubernetes mount it.

models.config is parsed with tensorflow-serving-api's ModelServerConfig. The
batching and monitoring protos are not in that package; the embedded server
declares them from TF Serving's `session_bundle_config.proto` and
`monitoring_config.proto` (`kerasforge.serving.server.tf_serving_protos`), and the
same messages read the files here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

from kerasforge.serving.server.tf_serving_protos import message_class
from tests.conftest import ROOT
from tests.docker.conftest import COMPOSE, DOCKER, SERVING

HEALTHCHECK = SERVING / "healthcheck.sh"


def parse_models_config(path: Path = SERVING / "models.config") -> ModelServerConfig:
    return text_format.Parse(path.read_text(), ModelServerConfig())


def serving_messages() -> dict[str, type]:
    """BatchingParameters and MonitoringConfig, as
    :mod:`kerasforge.serving.server.tf_serving_protos` declares them from TF Serving's own protos
    (the API wheel lacks both)."""
    return {name: message_class(name) for name in ("BatchingParameters", "MonitoringConfig")}


def test_models_config_parses_as_tf_serving_reads_it():
    config = parse_models_config()
    models = config.model_config_list.config
    assert models, "models.config names no model"
    for model in models:
        assert model.model_platform == "tensorflow"
        assert model.model_version_policy.WhichOneof("policy_choice") is not None
        served = set(model.model_version_policy.specific.versions)
        labelled = set(model.version_labels.values())
        assert labelled, f"{model.name}: no version_labels"
        if served:
            assert labelled <= served, f"{model.name}: a label names a version not served"


def test_a_typo_in_models_config_is_rejected(tmp_path):
    bad = tmp_path / "models.config"
    bad.write_text((SERVING / "models.config").read_text().replace("base_path", "base_pth"))
    with pytest.raises(text_format.ParseError, match="base_pth"):
        parse_models_config(bad)


def test_every_base_path_is_inside_the_mounted_repository(compose):
    mount = compose["services"]["tf-serving"]["volumes"][0]
    host_repository = (COMPOSE.parent / mount["source"]).resolve()
    assert host_repository == ROOT / "artifacts" / "models"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^REPOSITORY \?= artifacts/models$", makefile, re.MULTILINE)
    for model in parse_models_config().model_config_list.config:
        assert model.base_path == f"{mount['target']}/{model.name}"


def test_published_models_land_where_models_config_looks(published):
    """`publish` writes <repository>/<name>/<version>/: the layout base_path expects."""
    repository = published.cfg.output_dir / "models"
    for model in parse_models_config().model_config_list.config:
        host = repository / Path(model.base_path).relative_to("/models")
        for version in model.model_version_policy.specific.versions:
            assert (host / str(version) / "saved_model.pb").is_file()
            assert (host / str(version) / "variables").is_dir()


def test_batching_and_monitoring_configs_parse():
    messages = serving_messages()
    batching = text_format.Parse(
        (SERVING / "batching_parameters.txt").read_text(), messages["BatchingParameters"]()
    )
    assert batching.max_batch_size.value >= 1 and batching.num_batch_threads.value >= 1
    assert batching.batch_timeout_micros.value > 0 and batching.max_enqueued_batches.value > 0
    monitoring = text_format.Parse(
        (SERVING / "monitoring.config").read_text(), messages["MonitoringConfig"]()
    )
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"
    with pytest.raises(text_format.ParseError):
        text_format.Parse("max_batch_size: 32", messages["BatchingParameters"]())


def test_serving_image_passes_every_config_file_to_the_server():
    dockerfile = (DOCKER / "serving" / "Dockerfile").read_text()
    for flag, name in [
        ("model_config_file", "models.config"),
        ("batching_parameters_file", "batching_parameters.txt"),
        ("monitoring_config_file", "monitoring.config"),
    ]:
        assert f'"--{flag}=/config/{name}"' in dockerfile
        assert f"docker/serving/{name}" in dockerfile
    assert '"--port=8500"' in dockerfile and '"--rest_api_port=8501"' in dockerfile


def test_probed_model_is_one_that_is_configured(k8s_objects):
    names = {m.name for m in parse_models_config().model_config_list.config}
    pod = k8s_objects["Deployment"]["spec"]["template"]["spec"]
    (serving,) = pod["containers"]
    path = serving["livenessProbe"]["httpGet"]["path"]
    assert path.removeprefix("/v1/models/") in names


def run_healthcheck(port: int, config: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "REST_API_PORT": str(port), "MODEL_CONFIG_FILE": str(config)}
    return subprocess.run(
        [shutil.which("bash") or "bash", str(HEALTHCHECK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthcheck_probes_the_rest_status_api(server, tmp_path):
    """The image's probe against a real server speaking TF Serving's status API."""
    port = int(server.url.rsplit(":", 1)[1])
    ok = run_healthcheck(port, SERVING / "models.config")
    assert ok.returncode == 0, ok.stderr
    missing = tmp_path / "models.config"
    missing.write_text((SERVING / "models.config").read_text().replace('"digits_cnn"', '"nope"', 1))
    failed = run_healthcheck(port, missing)
    assert failed.returncode == 1 and "model nope" in failed.stderr
