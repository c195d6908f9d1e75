"""The model store over real SavedModels: version policies, hot swap, broken versions, polling."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from kerasforge.serving import repository
from kerasforge.serving.clients.rest_client import RestClient
from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import embedded as serverlib
from kerasforge.serving.server import predict
from kerasforge.serving.server import store as storelib
from kerasforge.serving.server.store import Latest, ModelStore

PIXELS = np.zeros((2, 8, 8, 1), np.float32)


def save_version(path: Path, version: int) -> None:
    """A tiny SavedModel whose ``serving_default`` predicts class ``version`` for any input.

    Written with ``tf.saved_model.save`` rather than ``export.publish``, so these
    tests exercise the store alone, whatever the exporter's arguments.
    """
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.logits = tf.Variable(tf.one_hot(version, 10) * 5.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="pixels")])
        def serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = tf.reduce_mean(pixels, axis=[1, 2]) * 0.0 + self.logits
            probabilities = tf.nn.softmax(logits)
            class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
            return {"class_ids": class_ids, "probabilities": probabilities}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three versions of a tiny model, ``<source>/m/{1,2,3}``, copied into each test's repo."""
    source = tmp_path_factory.mktemp("published") / "m"
    for version in (1, 2, 3):
        save_version(source / str(version), version)
    assert repository.versions(source) == [1, 2, 3]
    return source


def add_version(published: Path, repo: Path, version: int, name: str = "m") -> None:
    shutil.copytree(published / str(version), repo / name / str(version))


def add_corrupt_version(repo: Path, version: int, name: str = "m") -> None:
    (repo / name / str(version)).mkdir(parents=True)
    (repo / name / str(version) / "saved_model.pb").write_bytes(b"garbage")


def make_repo(published: Path, root: Path, versions: list[int], name: str = "m") -> Path:
    for version in versions:
        add_version(published, root, version, name)
    return root


def answers(model: storelib.LoadedModel) -> bool:
    """Whether ``model`` still runs, and is the version it claims to be."""
    signature = model.signature("serving_default")
    (input_name,) = predict.input_specs(signature)
    class_ids = predict.run(signature, {input_name: PIXELS})["class_ids"]
    return class_ids.tolist() == [model.version] * len(PIXELS)


def test_the_newest_version_is_served_by_default(published, tmp_path):
    store = ModelStore(make_repo(published, tmp_path, [1, 2, 3]))
    assert [m.version for m in store.refresh()] == [3]
    assert list(store.versions("m")) == [3]
    assert store.get("m").version == 3 and store.get("m", 3).version == 3
    assert answers(store.get("m"))
    assert store.refresh() == []  # nothing new on disk: nothing reloaded


def test_latest_two_loads_both_versions_per_model(published, tmp_path):
    repo = make_repo(published, tmp_path, [1, 2, 3])
    make_repo(published, repo, [1, 2], name="other")
    store = ModelStore(repo, policies={"m": Latest(2)})
    store.refresh()
    assert list(store.versions("m")) == [3, 2]
    assert list(store.versions("other")) == [2]  # the default policy, Latest(1)
    assert store.get("m").version == 3 and store.get("m", 2).version == 2
    assert [(m.name, m.version) for m in store.models()] == [("m", 3), ("m", 2), ("other", 2)]
    assert [m.version for m in store.statuses("m")] == [3, 2]
    assert answers(store.get("m", 2))


def test_latest_one_unloads_the_old_version_only_after_the_new_one_loads(
    published, tmp_path, monkeypatch
):
    repo = make_repo(published, tmp_path, [1])
    store = ModelStore(repo)
    store.refresh()
    in_flight = store.get("m")
    served_while_loading = []
    real_load = storelib.load_version

    def load(name: str, version: int, path: Path, tags: str) -> storelib.LoadedModel:
        served_while_loading.append(list(store.versions(name)))
        return real_load(name, version, path, tags)

    monkeypatch.setattr(storelib, "load_version", load)
    add_version(published, repo, 2)
    assert [m.version for m in store.refresh()] == [2]
    assert served_while_loading == [[1]]
    assert list(store.versions("m")) == [2]
    with pytest.raises(ServingError, match=r"Specific\(m, 1\); loaded versions: 2"):
        store.get("m", 1)
    assert in_flight.version == 1 and answers(in_flight)  # a running request finishes on it


def count_loads(monkeypatch) -> list[int]:
    """The versions the store tries to load, in order (the real loader still runs)."""
    attempts: list[int] = []
    real_load = storelib.load_version

    def load(name: str, version: int, path: Path, tags: str) -> storelib.LoadedModel:
        attempts.append(version)
        return real_load(name, version, path, tags)

    monkeypatch.setattr(storelib, "load_version", load)
    return attempts


def test_a_corrupt_newer_version_is_skipped_and_the_old_one_keeps_serving(
    published, tmp_path, monkeypatch
):
    repo = make_repo(published, tmp_path, [1])
    store = ModelStore(repo)
    store.refresh()
    add_corrupt_version(repo, 2)
    attempts = count_loads(monkeypatch)
    assert store.refresh() == []
    assert store.refresh() == []
    assert attempts == [2]  # remembered as broken: not retried every poll
    assert list(store.versions("m")) == [1] and answers(store.get("m"))


@pytest.mark.parametrize(("retries", "tries"), [((2, 0.0), 3), ((0, 0.0), 1), ((5, 3600.0), 1)])
def test_a_failed_load_is_retried_as_tf_serving_s_flags_say(
    published, tmp_path, monkeypatch, retries, tries
):
    # main.cc --max_num_load_retries ("If set to 0, a load is attempted only once") and
    # --load_retry_interval_micros: retries even when the files did not change.
    repo = make_repo(published, tmp_path, [1])
    add_corrupt_version(repo, 2)
    attempts = count_loads(monkeypatch)
    store = ModelStore(repo, retries=retries)
    for _ in range(5):
        store.refresh()
    assert attempts.count(2) == tries
    assert list(store.versions("m")) == [1]


def test_server_options_name_the_store_s_tags_and_retries():
    options = serverlib.ServerOptions(
        saved_model_tags=("gpu", "serve"), max_load_retries=1, load_retry_interval_s=0.5
    )
    assert options.load_options() == {"saved_model_tags": "gpu,serve", "retries": (1, 0.5)}


def test_a_corrupt_version_at_start_makes_the_policy_fall_back(published, tmp_path):
    repo = make_repo(published, tmp_path, [1, 2])
    add_corrupt_version(repo, 3)
    store = ModelStore(repo, default_policy=Latest(2))
    assert sorted(m.version for m in store.refresh()) == [1, 2]
    assert list(store.versions("m")) == [2, 1]


def test_an_exception_in_the_poll_loop_does_not_stop_polling(published, tmp_path, monkeypatch):
    repo = make_repo(published, tmp_path, [1])
    store = ModelStore(repo)
    store.refresh()
    failures = []
    real_names = repository.model_names

    def flaky_names(root: Path) -> list[str]:
        if len(failures) < 2:
            failures.append(root)
            raise OSError("repository briefly unreadable")
        return real_names(root)

    monkeypatch.setattr(repository, "model_names", flaky_names)
    add_version(published, repo, 2)
    store.start_polling(0.05)
    try:
        deadline = time.monotonic() + 30
        while store.get("m").version != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        store.stop()
    assert len(failures) == 2
    assert store.get("m").version == 2


def test_a_missing_version_or_model_is_a_404(published, tmp_path):
    store = ModelStore(make_repo(published, tmp_path, [1]))
    store.refresh()
    with pytest.raises(ServingError, match=r"^Servable not found for request: Specific\(m, 9\)"):
        store.get("m", 9)
    with pytest.raises(ServingError, match=r"^Servable not found for request: Latest\(nope\)$"):
        store.get("nope")
    with pytest.raises(ServingError, match=r"Specific\(nope, 1\)$") as info:
        store.get("nope", 1)
    assert info.value.status == 404
    with pytest.raises(ServingError, match="Latest") as info:
        store.statuses("nope")
    assert info.value.status == 404


def test_latest_policy_picks_the_highest_versions_and_rejects_a_bad_count():
    assert Latest().select([3, 1, 2]) == [3]
    assert Latest(2).select([5, 1, 3]) == [3, 5]
    assert Latest(4).select([1]) == [1]
    assert isinstance(Latest(), storelib.VersionPolicy)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive number of versions"):
            Latest(bad)


def test_status_endpoint_lists_every_loaded_version(published, tmp_path):
    store = ModelStore(make_repo(published, tmp_path, [1, 2, 3]), default_policy=Latest(2))
    store.refresh()
    rest = serverlib.serve_store(store, serverlib.ServerOptions(host="127.0.0.1", rest_port=0))
    try:
        client = RestClient(f"http://127.0.0.1:{rest.server_address[1]}")
        listed = client.status("m")["model_version_status"]
        assert [s["version"] for s in listed] == ["3", "2"]
        assert {s["state"] for s in listed} == {"AVAILABLE"}
        assert [s["version"] for s in client.status("m", 2)["model_version_status"]] == ["2"]
        predictions = client.predict("m", PIXELS.tolist(), version=2)
        assert [p["class_ids"] for p in predictions] == [2, 2]
    finally:
        serverlib.stop(rest, store)


def test_a_non_ascii_digit_folder_neither_stops_start_up_nor_polling(published, tmp_path):
    repo = make_repo(published, tmp_path, [1])
    (repo / "m" / "²").mkdir()
    (repo / "m" / "²" / "saved_model.pb").write_bytes(b"x")
    (repo / "other" / "³").mkdir(parents=True)
    store = ModelStore(repo)
    assert [m.version for m in store.refresh()] == [1]
    add_version(published, repo, 2)
    assert [m.version for m in store.refresh()] == [2]


def test_a_version_copied_in_non_atomically_is_retried_once_complete(published, tmp_path):
    repo = make_repo(published, tmp_path, [1])
    store = ModelStore(repo)
    store.refresh()
    partial = repo / "m" / "2"
    partial.mkdir()
    shutil.copy2(published / "2" / "saved_model.pb", partial)  # `cp -r`: variables/ not yet
    assert store.refresh() == [] and list(store.versions("m")) == [1]
    assert store.refresh() == []  # unchanged files: not retried every poll
    shutil.copytree(published / "2", partial, dirs_exist_ok=True)  # the copy completes
    assert [m.version for m in store.refresh()] == [2]
    assert answers(store.get("m"))


def test_repository_mode_serves_what_the_release_labelled_in_models_config(published, tmp_path):
    """A failed version on disk (3) is not served: the release's models.config names 1 (stable)."""
    from kerasforge.serving.export.tf_serving_config import set_model_entry

    repo = make_repo(published, tmp_path, [1, 2, 3])
    set_model_entry(repo, "m", {"stable": 1})
    store = ModelStore(repo)
    store.refresh()
    assert list(store.versions("m")) == [1]
    assert store.get("m").version == 1 and store.get("m", label="stable").version == 1
    set_model_entry(repo, "m", {"stable": 1, "canary": 2})  # a canary beside stable
    assert [m.version for m in store.refresh()] == [2]
    assert list(store.versions("m")) == [2, 1]
    assert store.get("m", label="canary").version == 2
    assert store.get("m", label="stable").version == 1
    with pytest.raises(ServingError, match="Unrecognized servable version label"):
        store.get("m", label="previous")
