"""The one entry point from the environment to TF_CONFIG: index, count, service, port."""

from __future__ import annotations

import json
import subprocess

import pytest

from kerasforge.pipelines.errors import ConfigError
from kerasforge.pipelines.training.cluster import cluster_from_env, export_tf_config
from tests.conftest import CLI, DEFAULT_CONFIG


@pytest.mark.parametrize("workers", [2, 4])
def test_an_indexed_job_pod_names_every_pod_behind_the_service(workers):
    env = {
        "KERASFORGE_WORKERS": str(workers),
        "KERASFORGE_SERVICE": "svc",
        "KERASFORGE_JOB": "job",
        "KERASFORGE_PORT": "2222",
    }
    hosts = [f"job-{i}.svc:2222" for i in range(workers)]
    for index in range(workers):
        built = cluster_from_env({**env, "JOB_COMPLETION_INDEX": str(index)})
        assert built == {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}


def test_without_a_service_workers_listen_on_loopback_ports():
    env = {"KERASFORGE_WORKERS": "3", "KERASFORGE_WORKER_INDEX": "2", "KERASFORGE_PORT": "5000"}
    built = cluster_from_env(env)
    assert built["cluster"]["worker"] == ["127.0.0.1:5000", "127.0.0.1:5001", "127.0.0.1:5002"]
    assert built["task"] == {"type": "worker", "index": 2}
    given = cluster_from_env({**env, "KERASFORGE_PORTS": "7, 9,8"})
    assert given["cluster"]["worker"] == ["127.0.0.1:7", "127.0.0.1:9", "127.0.0.1:8"]
    # our own index wins over the Job's, and the default port is 12345
    ours = cluster_from_env({"KERASFORGE_WORKERS": "2", "KERASFORGE_WORKER_INDEX": "1",
                             "JOB_COMPLETION_INDEX": "0"})  # fmt: skip
    assert ours["task"]["index"] == 1 and ours["cluster"]["worker"][0] == "127.0.0.1:12345"
    assert cluster_from_env({"JOB_COMPLETION_INDEX": "0"}) is None


TWO = {"KERASFORGE_WORKERS": "2", "JOB_COMPLETION_INDEX": "0"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KERASFORGE_WORKERS": "2", "JOB_COMPLETION_INDEX": "2"}, "is not below"),
        ({"KERASFORGE_WORKERS": "two", "JOB_COMPLETION_INDEX": "0"}, "KERASFORGE_WORKERS must be"),
        ({"KERASFORGE_WORKERS": "0", "JOB_COMPLETION_INDEX": "0"}, "integer >= 1; received '0'"),
        ({"KERASFORGE_WORKERS": "2", "KERASFORGE_WORKER_INDEX": "-1"}, "integer >= 0"),
        ({"KERASFORGE_WORKERS": "2"}, "needs this worker's index"),
        ({**TWO, "KERASFORGE_SERVICE": "s"}, "needs KERASFORGE_JOB"),
        ({**TWO, "KERASFORGE_PORTS": "1"}, "must list 2 port numbers"),
        ({**TWO, "KERASFORGE_PORT": "x"}, "KERASFORGE_PORT must be"),
    ],
)
def test_bad_values_are_refused_with_the_variable_and_the_value(env, message):
    with pytest.raises(ConfigError, match=message):
        cluster_from_env(env)


def test_an_explicit_tf_config_wins_and_worker_variables_need_the_multi_worker_strategy():
    env = {"KERASFORGE_WORKERS": "2", "KERASFORGE_WORKER_INDEX": "1"}
    built = export_tf_config("multi_worker", env)
    assert json.loads(env["TF_CONFIG"]) == built and built["task"]["index"] == 1
    task = {"type": "worker", "index": 0}
    mine = json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": task})
    env = {**env, "TF_CONFIG": mine}
    assert export_tf_config("multi_worker", env)["cluster"]["worker"] == ["a:1", "b:1"]
    assert export_tf_config("default", {}) == {}
    with pytest.raises(ConfigError, match=r"train\.scale\.strategy=multi_worker"):
        export_tf_config("default", env)


MULTI = "train.scale.strategy=multi_worker"


def test_the_command_line_says_what_is_wrong_in_one_line_before_tensorflow_starts():
    env = {"KERASFORGE_WORKERS": "2", "JOB_COMPLETION_INDEX": "5", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*CLI, "train", "--config", str(DEFAULT_CONFIG), "--set", MULTI],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: JOB_COMPLETION_INDEX=5 is not below KERASFORGE_WORKERS=2: worker indices run "
        "from 0 to 1; set KERASFORGE_WORKERS to the number of workers started"
    ]
