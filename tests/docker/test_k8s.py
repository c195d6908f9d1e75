"""The Kubernetes manifests in docker/k8s/ validate and deploy TF Serving safely.

kubernetes-validate checks each object, strictly (unknown fields rejected),
against the OpenAPI schemas of a Kubernetes release that it ships: no cluster
and no network needed.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from tests.docker.conftest import K8S, SERVING

KINDS = {
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "Service",
}


def validate(obj: dict) -> None:
    kubernetes_validate.validate(obj, latest_version(), strict=True)


def test_every_object_validates_strictly(k8s_objects):
    assert set(k8s_objects) == KINDS
    for obj in k8s_objects.values():
        validate(obj)


def test_the_validator_rejects_an_unknown_field(k8s_objects):
    broken = copy.deepcopy(k8s_objects["Deployment"])
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def container(k8s_objects) -> dict:
    (only,) = k8s_objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def test_probes_ask_the_rest_status_endpoint(k8s_objects):
    serving = container(k8s_objects)
    for probe in ("startupProbe", "livenessProbe"):
        get = serving[probe]["httpGet"]
        assert get["path"] == "/v1/models/digits_cnn" and get["port"] == "http"
    assert serving["readinessProbe"]["exec"]["command"] == ["/usr/local/bin/kerasforge-healthcheck"]
    ports = {p["name"]: p["containerPort"] for p in serving["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}


def test_deployment_runs_this_release_of_the_serving_image(k8s_objects, pyproject):
    image = container(k8s_objects)["image"]
    assert image == f"kerasforge-serving:{pyproject['project']['version']}"


def test_pods_run_unprivileged_with_limits(k8s_objects):
    pod = k8s_objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    serving = container(k8s_objects)
    assert serving["securityContext"]["allowPrivilegeEscalation"] is False
    assert serving["securityContext"]["readOnlyRootFilesystem"] is True
    assert serving["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(serving["resources"]["limits"])
    assert {"cpu", "memory"} <= set(serving["resources"]["requests"])


def test_models_come_read_only_from_the_claim_and_configs_from_the_configmap(k8s_objects):
    pod = k8s_objects["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container(k8s_objects)["volumeMounts"]}
    claim = volumes["models"]["persistentVolumeClaim"]
    assert claim == {
        "claimName": k8s_objects["PersistentVolumeClaim"]["metadata"]["name"],
        "readOnly": True,
    }
    assert mounts["models"] == {"name": "models", "mountPath": "/models", "readOnly": True}
    assert volumes["config"]["configMap"]["name"] == k8s_objects["ConfigMap"]["metadata"]["name"]
    assert mounts["config"]["mountPath"] == "/config"


def test_configmap_carries_the_same_configs_as_the_image(k8s_objects):
    data = k8s_objects["ConfigMap"]["data"]
    assert set(data) == {"models.config", "batching_parameters.txt", "monitoring.config"}
    for name, text in data.items():
        assert text == (SERVING / name).read_text(), f"{name} differs from docker/serving/{name}"


def test_service_and_autoscaler_target_the_deployment(k8s_objects):
    deployment = k8s_objects["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = k8s_objects["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert {p["port"]: p["targetPort"] for p in service["ports"]} == {8500: "grpc", 8501: "http"}
    hpa = k8s_objects["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_manifests_are_in_k8s_folder():
    assert sorted(p.name for p in K8S.glob("*.yaml")) == [
        "configmap.yaml",
        "deployment.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "pvc.yaml",
        "service.yaml",
    ]
