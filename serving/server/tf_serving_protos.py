"""TF Serving config messages that the tensorflow-serving-api wheel does not ship.

``tensorflow_model_server`` reads ``--monitoring_config_file`` as a
``tensorflow.serving.MonitoringConfig`` (``config/monitoring_config.proto``) and
``--batching_parameters_file`` as a ``tensorflow.serving.BatchingParameters``
(``servables/tensorflow/session_bundle_config.proto``) and ``--ssl_config_file``
as a ``tensorflow.serving.SSLConfig`` (``config/ssl_config.proto``); the Python
wheel has none of these modules. This one builds the messages from their descriptors (same
package, names, field numbers and types), so text protos written for TF
Serving parse here unchanged and anything else is refused as TF Serving would.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,  # noqa: F401  (registers wrappers.proto)
)

from ..errors import ServingError

_F = descriptor_pb2.FieldDescriptorProto
_MESSAGES = {
    "PrometheusConfig": [("enable", 1, _F.TYPE_BOOL, None), ("path", 2, _F.TYPE_STRING, None)],
    "MonitoringConfig": [
        ("prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")
    ],
    "BatchingParameters": [
        ("max_batch_size", 1, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value"),
        ("batch_timeout_micros", 2, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value"),
        ("max_enqueued_batches", 3, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value"),
        ("num_batch_threads", 4, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value"),
        ("thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue"),
        ("allowed_batch_sizes", 6, _F.TYPE_INT64, None),
        ("pad_variable_length_inputs", 7, _F.TYPE_BOOL, None),
    ],
    "SSLConfig": [
        ("server_key", 1, _F.TYPE_STRING, None),
        ("server_cert", 2, _F.TYPE_STRING, None),
        ("custom_ca", 3, _F.TYPE_STRING, None),
        ("client_verify", 4, _F.TYPE_BOOL, None),
    ],
}
_REPEATED = {"allowed_batch_sizes"}


@cache
def message_class(name: str) -> Any:
    """The generated class of ``tensorflow.serving.<name>`` (one of the messages above)."""
    pool = descriptor_pool.Default()
    try:
        return message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
        )
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto(
        name="kerasforge/tf_serving_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    for message, fields in _MESSAGES.items():
        out = proto.message_type.add(name=message)
        for field, number, kind, type_name in fields:
            label = _F.LABEL_REPEATED if field in _REPEATED else _F.LABEL_OPTIONAL
            added = out.field.add(name=field, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))


def read_text_proto(path: Path, name: str, flag: str, example: str) -> Any:
    """Parse the text proto at ``path`` as ``tensorflow.serving.<name>``.

    Raises:
        ServingError: the file cannot be read or is not that message; the
            message names ``flag`` and shows ``example``.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ServingError(
            f"{flag} {str(path)!r} cannot be read ({exc.strerror}); pass a {name} text proto "
            f"such as: {example}"
        ) from None
    message = message_class(name)()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ServingError(
            f"{flag} {str(path)!r} is not a {name} text proto: {exc}; expected e.g. {example}"
        ) from None
    return message
