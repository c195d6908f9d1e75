"""TF Serving configs generated beside the repository: parsed back with TF Serving's protos."""

from __future__ import annotations

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasforge.serving.export.tf_serving_config import write_configs


def test_models_config_lists_every_model_with_policy_and_stable_label(published):
    repository = published.published.path.parents[1]
    assert (repository / "models.config").is_file(), "publish writes it"
    written = write_configs(repository, base_path_root="/srv/models")
    config = text_format.Parse(
        written["models.config"].read_text(), model_server_config_pb2.ModelServerConfig()
    )
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == (
        "digits_cnn",
        "/srv/models/digits_cnn",
        "tensorflow",
    )
    assert model.model_version_policy.latest.num_versions == 1
    assert model.version_labels["stable"] == published.published.version
    assert "max_batch_size { value: 32 }" in written["batching.config"].read_text()
    assert "prometheus_config" in written["monitoring.config"].read_text()
    assert not list(repository.glob(".*.tmp"))


def test_an_export_keeps_the_entries_a_release_wrote_for_other_models(tmp_path):
    """`kerasforge export` of model b must not turn model a's gated labels into `latest`."""
    from kerasforge.serving.export.tf_serving_config import set_model_entry
    from kerasforge.serving.server.model_config import Latest, Specific, read_config

    for name, versions in (("a", (1, 2)), ("b", (1,))):
        for version in versions:
            (tmp_path / name / str(version)).mkdir(parents=True)
            (tmp_path / name / str(version) / "saved_model.pb").write_bytes(b"")
    set_model_entry(tmp_path, "a", {"stable": 1})  # version 2 failed its gate
    set_model_entry(tmp_path, "b", {"stable": 1})
    write_configs(tmp_path, published="b")
    entries = {e.name: e for e in read_config(tmp_path / "models.config")}
    assert entries["a"].policy == Specific(frozenset({1})) and entries["a"].labels == {"stable": 1}
    assert entries["b"].policy == Latest(1), "the exported model's entry is regenerated"
