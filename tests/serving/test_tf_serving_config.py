"""TF Serving configs generated beside the repository: parsed back with TF Serving's protos."""

from __future__ import annotations

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasforge.serving.tf_serving_config import write_configs


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
