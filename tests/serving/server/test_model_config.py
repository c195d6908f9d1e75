"""TF Serving's model server config: parsing, its rules, the one writer, the store applying it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kerasforge.serving.errors import ServingError
from kerasforge.serving.export import tf_serving_config
from kerasforge.serving.server import model_config
from kerasforge.serving.server.model_config import All, Latest, ModelEntry, Specific
from kerasforge.serving.server.store import ModelStore
from tests.conftest import ROOT
from tests.serving.example_model import save_example_model


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_two_models_with_policies_and_labels_parse(tmp_path):
    config = write(
        tmp_path / "models.config",
        """
        model_config_list {
          config {
            name: "ex" base_path: "/srv/ex" model_platform: "tensorflow"
            model_version_policy { all {} }
            version_labels { key: "stable" value: 1 }
            version_labels { key: "canary" value: 2 }
          }
          config {
            name: "digits" base_path: "/srv/digits" model_platform: "tensorflow"
            model_version_policy { specific { versions: 1 versions: 3 } }
          }
          config { name: "plain" base_path: "/srv/plain" model_platform: "tensorflow" }
          config {
            name: "two" base_path: "/srv/two" model_platform: "tensorflow"
            model_version_policy { latest { num_versions: 2 } }
          }
        }
        """,
    )
    entries = model_config.read_config(config)
    assert entries == [
        ModelEntry("ex", Path("/srv/ex"), All(), {"stable": 1, "canary": 2}),
        ModelEntry("digits", Path("/srv/digits"), Specific(frozenset({1, 3}))),
        ModelEntry("plain", Path("/srv/plain"), Latest(1)),
        ModelEntry("two", Path("/srv/two"), Latest(2)),
    ]
    assert All().select([3, 1, 2]) == [1, 2, 3]
    assert Specific(frozenset({1, 3, 9})).select([1, 2, 3]) == [1, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_config_list { config { nme: 'x' } }", "not a TF Serving ModelServerConfig"),
        (
            "model_config_list { config { name: 'x' base_path: 'models/x' "
            "model_platform: 'tensorflow' } }",
            "Expected model x to have an absolute path or URI; got base_path()=models/x",
        ),
        (
            "model_config_list { config { name: 'x' base_path: '/a' model_platform: 'tensorflow' }"
            " config { name: 'x' base_path: '/b' model_platform: 'tensorflow' } }",
            "Illegal to list model x multiple times in config list",
        ),
        (
            "model_config_list { config { name: 'x' base_path: '/a' model_platform: 'onnx' } }",
            'expected "tensorflow"',
        ),
        (
            "model_config_list { config { name: 'x' base_path: '/a' model_platform: 'tensorflow'"
            " model_version_policy { specific {} } } }",
            "lists no versions",
        ),
        (
            "model_config_list { config { name: '../x' base_path: '/a' "
            "model_platform: 'tensorflow' } }",
            "model name '../x' is not allowed",
        ),
        ("custom_model_config { }", "Only ModelConfigList is currently supported"),
    ],
)
def test_a_bad_config_is_one_clear_error(tmp_path, text, message):
    path = write(tmp_path / "models.config", text)
    with pytest.raises(ServingError) as info:
        model_config.read_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_missing_config_file_is_one_clear_error(tmp_path):
    with pytest.raises(ServingError, match="cannot read --model_config_file"):
        model_config.read_config(tmp_path / "nope.config")


def test_what_we_write_reads_back_unchanged(tmp_path):
    entries = [
        ModelEntry("ex", Path("/srv/ex"), All(), {"stable": 1, "canary": 2}),
        ModelEntry("digits", Path("/srv/digits"), Specific(frozenset({1, 3})), {"stable": 3}),
        ModelEntry("two", Path("/srv/two"), Latest(2)),
    ]
    path = write(tmp_path / "models.config", model_config.config_text(entries))
    assert model_config.read_config(path) == entries


def test_every_models_config_we_ship_or_write_parses(published, tmp_path):
    shipped = model_config.read_config(ROOT / "docker" / "serving" / "models.config")
    assert [(e.name, e.policy, dict(e.labels)) for e in shipped] == [
        ("digits_cnn", Specific(frozenset({1})), {"stable": 1})
    ]
    repository = published.published.path.parents[1]
    written = write(tmp_path / "models.config", tf_serving_config.models_config(repository))
    (entry,) = model_config.read_config(written)
    assert entry.base_path == Path("/models/digits_cnn")
    assert entry.labels == {"stable": published.published.version}


@pytest.fixture(scope="module")
def ex_versions(tmp_path_factory) -> Path:
    """``<base>/{1,2,3}``: three versions of the example model, each answering differently."""
    base = tmp_path_factory.mktemp("ex_versions") / "ex"
    for version in (1, 2, 3):
        save_example_model(base / str(version), version)
    return base


def test_configure_serves_policies_and_labels(ex_versions, tmp_path):
    shutil.copytree(ex_versions, tmp_path / "ex")
    store = ModelStore()
    store.configure([ModelEntry("ex", tmp_path / "ex", All(), {"stable": 1, "canary": 2})])
    assert list(store.versions("ex")) == [3, 2, 1]
    assert store.get("ex", label="canary").version == 2
    assert store.get("ex").version == 3
    with pytest.raises(ServingError, match=r"^Unrecognized servable version label: nope$") as info:
        store.get("ex", label="nope")
    assert info.value.status == 400

    store.configure([ModelEntry("ex", tmp_path / "ex", Specific(frozenset({2})), {"stable": 2})])
    assert list(store.versions("ex")) == [2]
    assert store.get("ex", label="stable").version == 2
    assert store.model_names() == ["ex"]
    store.configure([])
    assert store.model_names() == [] and not store.versions("ex")


def test_a_label_on_a_version_not_loaded_is_refused_whole(ex_versions, tmp_path):
    shutil.copytree(ex_versions, tmp_path / "ex")
    store = ModelStore()
    store.configure([ModelEntry("ex", tmp_path / "ex", Specific(frozenset({1})), {"stable": 1})])
    moved = ModelEntry("ex", tmp_path / "ex", Specific(frozenset({1})), {"stable": 2})
    with pytest.raises(ServingError) as info:
        store.configure([moved])
    assert str(info.value) == (
        "Request to assign label to version 2 of model ex, which is not currently available "
        "for inference"
    )
    assert info.value.status == 412
    assert store.get("ex", label="stable").version == 1  # nothing changed

    # --allow_version_labels_for_unavailable_models: a new label may name an unloaded
    # version; a label already in use may not move to one.
    store.allow_unavailable_labels = True
    store.configure(
        [ModelEntry("ex", tmp_path / "ex", Specific(frozenset({1})), {"stable": 1, "next": 9})]
    )
    assert store.label_version("ex", "next") == 9
    with pytest.raises(ServingError, match="Servable not found for request: Specific\\(ex, 9\\)"):
        store.get("ex", label="next")
    with pytest.raises(ServingError, match="version 2 of model ex"):
        store.configure([moved])


def test_the_registry_writer_keeps_other_models_and_reads_back(tmp_path):
    (tmp_path / "a").mkdir()
    tf_serving_config.set_model_entry(tmp_path, "a", {})
    path = tf_serving_config.set_model_entry(tmp_path, "b", {"stable": 2, "canary": 3})
    entries = {e.name: e for e in model_config.read_config(path)}
    assert entries["a"] == ModelEntry("a", (tmp_path / "a").resolve(), Latest(1))
    assert entries["b"].policy == Specific(frozenset({2, 3}))
    assert dict(entries["b"].labels) == {"stable": 2, "canary": 3}
    assert not list(tmp_path.glob(".*.tmp"))
