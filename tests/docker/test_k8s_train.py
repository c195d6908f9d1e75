"""docker/k8s/train/: N training workers as an Indexed Job, rendered for N and validated.

kubernetes-validate checks each rendered object strictly against Kubernetes'
OpenAPI schemas, offline, as tests/docker/test_k8s.py does for serving. The
Kubeflow TFJob example is a custom resource, which those schemas do not cover:
it is only parsed and compared with the Job.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from kerasforge.pipelines.training.cluster import cluster_from_env
from tests.docker.conftest import K8S

TRAIN = K8S / "train"
_spec = importlib.util.spec_from_file_location("k8s_train_render", TRAIN / "render.py")
render_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_module)


@pytest.fixture(scope="module", params=[2, 4])
def rendered(request) -> tuple[int, dict[str, dict]]:
    objects = render_module.render(request.param, "configs/digits_cnn.yaml")
    return request.param, {obj["kind"]: obj for obj in objects}


def _trainer(job: dict) -> dict:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return only


def _env(job: dict) -> dict[str, str]:
    return {var["name"]: var["value"] for var in _trainer(job)["env"]}


def test_every_rendered_object_validates_strictly(rendered):
    _, objects = rendered
    assert set(objects) == {"PersistentVolumeClaim", "Service", "Job"}
    for obj in objects.values():
        kubernetes_validate.validate(obj, latest_version(), strict=True)


def test_the_worker_count_is_the_job_s_completions_parallelism_and_env(rendered):
    workers, objects = rendered
    spec = objects["Job"]["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == workers
    assert _env(objects["Job"])["KERASFORGE_WORKERS"] == str(workers)


def test_each_pod_s_tf_config_names_every_pod_behind_the_headless_service(rendered):
    workers, objects = rendered
    job, service = objects["Job"], objects["Service"]
    pod = job["spec"]["template"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["subdomain"] == service["metadata"]["name"]
    env = _env(job)
    assert env["KERASFORGE_SERVICE"] == service["metadata"]["name"]
    assert env["KERASFORGE_JOB"] == job["metadata"]["name"]
    (port,) = _trainer(job)["ports"]
    number = port["containerPort"]
    assert int(env["KERASFORGE_PORT"]) == number == service["spec"]["ports"][0]["port"]
    names = job["metadata"]["name"], service["metadata"]["name"]
    hosts = [f"{names[0]}-{i}.{names[1]}" for i in range(workers)]
    for index in range(workers):  # what Kubernetes puts in pod <index>
        built = cluster_from_env({**env, "JOB_COMPLETION_INDEX": str(index)})
        assert built["cluster"]["worker"] == [f"{h}:{number}" for h in hosts]
        assert built["task"] == {"type": "worker", "index": index}


def test_a_failed_worker_pod_is_replaced_and_a_config_error_is_not_retried(rendered):
    _, objects = rendered
    spec = objects["Job"]["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["backoffLimitPerIndex"] >= 1 and spec["maxFailedIndexes"] == 0
    (fail_index, _) = spec["podFailurePolicy"]["rules"]
    assert fail_index["action"] == "FailIndex"
    assert fail_index["onExitCodes"]["values"] == [2]  # kerasforge's exit status for a user error


def test_workers_share_the_read_write_many_claim_and_run_unprivileged(rendered, pyproject):
    _, objects = rendered
    claim = objects["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pod = objects["Job"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    trainer = _trainer(objects["Job"])
    mounts = {m["name"]: m["mountPath"] for m in trainer["volumeMounts"]}
    assert "output_dir=" + mounts["artifacts"] in trainer["args"]
    assert "train.scale.strategy=multi_worker" in trainer["args"]
    assert trainer["image"] == f"kerasforge-train:{pyproject['project']['version']}"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"]
    assert trainer["securityContext"]["allowPrivilegeEscalation"] is False
    assert trainer["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"cpu", "memory"} <= set(trainer["resources"]["limits"])
    assert _env(objects["Job"])["MLFLOW_TRACKING_URI"].startswith("http")


def test_the_checked_in_job_is_the_two_worker_rendering():
    (job,) = [o for o in render_module.render(2, "configs/digits_cnn.yaml") if o["kind"] == "Job"]
    assert job == yaml.safe_load((TRAIN / "job.yaml").read_text())


def test_the_command_line_renders_a_config_and_overrides_and_refuses_zero_workers():
    script = [sys.executable, str(TRAIN / "render.py")]
    done = subprocess.run(
        [*script, "--workers", "3", "--config", "configs/x.yaml", "--set", "train.epochs=9"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (job,) = [o for o in yaml.safe_load_all(done.stdout) if o["kind"] == "Job"]
    args = _trainer(job)["args"]
    assert args[:2] == ["--config", "/opt/kerasforge/configs/x.yaml"]
    assert args[-1] == "train.epochs=9"
    refused = subprocess.run([*script, "--workers", "0"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--workers must be between 1" in refused.stderr


def test_the_tfjob_example_runs_the_same_container_as_the_job():
    tfjob = yaml.safe_load((TRAIN / "kubeflow" / "tfjob.yaml").read_text())
    assert tfjob["kind"] == "TFJob" and tfjob["apiVersion"] == "kubeflow.org/v1"
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    (container,) = worker["template"]["spec"]["containers"]
    assert container["name"] == "tensorflow"  # the operator's required container name
    job = yaml.safe_load((TRAIN / "job.yaml").read_text())
    assert container["args"] == _trainer(job)["args"]
    assert container["image"] == _trainer(job)["image"]
    assert not any(v["name"].startswith("KERASFORGE_") for v in container["env"])  # TF_CONFIG wins
