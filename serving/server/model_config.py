"""TF Serving's model server config: which models, where, which versions, which labels.

One :class:`ModelEntry` per ``ModelConfig`` of a ``ModelServerConfig``
(``tensorflow_serving/config/model_server_config.proto``): its name, base path,
version policy and version labels. :func:`read_config` parses the text-proto
file ``--model_config_file`` names, with TF Serving's own protos and TF
Serving's rules (``server_core.cc``): only a ``model_config_list``, each name
once, ``model_platform: "tensorflow"``, base paths absolute (a relative one is
refused, as ``tensorflow_model_server`` refuses it). :func:`config_text` writes
entries back; it is the one writer of ``models.config``.

The version policies (``model_version_policy``) are small classes with a
``select(available) -> versions to serve``: :class:`Latest` (the default,
``latest { num_versions: 1 }``), :class:`All` and :class:`Specific`.

A model's ``logging_config`` (TF Serving's ``LoggingConfig``) becomes a
:class:`RequestLogConfig` (:mod:`.request_log` writes the records). Its
``filename_prefix`` is a path prefix that must lie in the folder of the config
file the operator gave (a relative one is taken from there); a config that
arrives over the network (``HandleReloadConfigRequest``) may not carry one, so
nothing a client sends can make the server write files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

from ..errors import ServingError
from . import paths


@runtime_checkable
class VersionPolicy(Protocol):
    """Chooses which of a model's versions on disk should be served."""

    def select(self, available: Sequence[int]) -> list[int]:
        """The versions to serve.

        Args:
            available: versions on disk, ascending, without those known not to load.

        Returns:
            A subset of ``available``; versions outside it are ignored.
        """
        ...


@dataclass(frozen=True)
class Latest:
    """Serve the ``n`` highest versions (TF Serving's ``latest { num_versions: n }``)."""

    n: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(
                f"Latest(n) expects a positive number of versions to serve; received {self.n!r}"
            )

    def select(self, available: Sequence[int]) -> list[int]:
        """The ``n`` highest of ``available``."""
        return sorted(available)[-self.n :]


@dataclass(frozen=True)
class All:
    """Serve every version on disk (TF Serving's ``all {}``)."""

    def select(self, available: Sequence[int]) -> list[int]:
        """All of ``available``."""
        return sorted(available)


@dataclass(frozen=True)
class Specific:
    """Serve the listed versions found on disk (TF Serving's ``specific { versions: ... }``)."""

    versions: frozenset[int]

    def select(self, available: Sequence[int]) -> list[int]:
        """The listed versions among ``available``."""
        return sorted(set(available) & self.versions)


LOG_COLLECTOR_TYPE = "tfrecord"
"""The one ``log_collector_config.type`` served (an empty type means it too)."""

LOG_LIMITS = {"max_file_bytes": 64 * 1024 * 1024, "max_file_records": 0, "queue_size": 1024}
"""The keys a ``custom_logging_config`` (a ``google.protobuf.Struct``) may set, and their
defaults: rotate a file past this many bytes or records (0: no record limit), and hold at
most this many samples waiting for the writer (more are dropped and counted)."""


@dataclass(frozen=True)
class RequestLogConfig:
    """A model's request logging (TF Serving's ``LoggingConfig``), checked.

    Attributes:
        prefix: absolute path prefix of the log files (a trailing ``/`` names a folder).
        sampling_rate: the share of answered requests logged, in [0, 1].
        max_file_bytes: a file is closed and the next one begun before it passes this size.
        max_file_records: ... or once it holds this many records (0: no limit).
        queue_size: samples waiting for the writer; more are dropped and counted.
    """

    prefix: str
    sampling_rate: float
    max_file_bytes: int = LOG_LIMITS["max_file_bytes"]
    max_file_records: int = LOG_LIMITS["max_file_records"]
    queue_size: int = LOG_LIMITS["queue_size"]


@dataclass(frozen=True)
class ModelEntry:
    """One model of the server config (TF Serving's ``ModelConfig``).

    Attributes:
        name: the model's name in requests.
        base_path: the folder holding its ``<version>/`` directories.
        policy: which versions on disk are served.
        labels: version labels (``stable -> 3``) requests may name instead of a version.
        logging: request logging (``logging_config``); ``None``: nothing is logged.
    """

    name: str
    base_path: Path
    policy: VersionPolicy = field(default_factory=Latest)
    labels: Mapping[str, int] = field(default_factory=dict)
    logging: RequestLogConfig | None = None


def read_config(path: str | Path) -> list[ModelEntry]:
    """The models of the text-proto ``ModelServerConfig`` file at ``path``.

    Raises:
        ServingError: the file is unreadable, does not parse, or breaks TF Serving's
            rules; one line naming the file, the problem and the fix.
    """
    from google.protobuf import struct_pb2, text_format  # noqa: F401 (Struct: a logging Any)
    from tensorflow_serving.config import model_server_config_pb2 as pb

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServingError(f"cannot read --model_config_file {str(path)!r}: {exc}") from None
    try:
        config = text_format.Parse(text, pb.ModelServerConfig())
    except text_format.ParseError as exc:
        raise ServingError(
            f"--model_config_file {str(path)!r} is not a TF Serving ModelServerConfig in text "
            f"format: {exc} (expected model_config_list {{ config {{ name: ... base_path: ... "
            "}} }})"
        ) from None
    try:
        return entries_from_proto(config, log_dir=Path(path).parent)
    except ServingError as exc:
        raise ServingError(f"--model_config_file {str(path)!r}: {exc}") from None


def entries_from_proto(config: Any, log_dir: Path | None = None) -> list[ModelEntry]:
    """The models of a ``ModelServerConfig`` message, checked as TF Serving checks them.

    Args:
        config: the ``ModelServerConfig``.
        log_dir: the folder request logs may be written in (that of the operator's config
            file); ``None`` (a config a client sent) refuses any ``logging_config``.

    Raises:
        ServingError: a ``custom_model_config``, a model listed twice, a platform
            other than ``tensorflow``, a relative base path, a bad version policy or a
            bad ``logging_config``.
    """
    from ..repository import check_model_name

    if config.WhichOneof("config") == "custom_model_config":
        raise ServingError(
            "ServerModelConfig type not supported. Only ModelConfigList is currently supported"
        )
    entries: list[ModelEntry] = []
    for model in config.model_config_list.config:
        if any(e.name == model.name for e in entries):
            raise ServingError(f"Illegal to list model {model.name} multiple times in config list")
        check_model_name(model.name)
        if model.model_platform not in ("tensorflow", ""):
            raise ServingError(
                f"model {model.name}: model_platform {model.model_platform!r} is not served "
                'here; expected "tensorflow" (SavedModels)'
            )
        if not PurePosixPath(model.base_path).is_absolute():
            raise ServingError(
                f"Expected model {model.name} to have an absolute path or URI; got "
                f"base_path()={model.base_path} (write the absolute path of the folder holding "
                "its version directories)"
            )
        entries.append(
            ModelEntry(
                model.name,
                Path(model.base_path),
                policy_from_proto(model.name, model.model_version_policy),
                dict(model.version_labels),
                logging_from_proto(model.name, model, log_dir),
            )
        )
    return entries


def logging_from_proto(name: str, model: Any, log_dir: Path | None) -> RequestLogConfig | None:
    """A ``ModelConfig``'s ``logging_config`` checked (``None`` when it has none).

    Raises:
        ServingError: no ``log_dir`` (a client's config), an unknown collector type, no
            or an outside ``filename_prefix``, a rate outside [0, 1], per-task sampling,
            or a ``custom_logging_config`` that is not a Struct of known positive numbers.
    """
    if not model.HasField("logging_config"):
        return None
    where = f"model {name}: logging_config"
    if log_dir is None:
        raise ServingError(
            f"{where} is accepted only in the --model_config_file the server reads (a config "
            "sent over the network may not make the server write files); remove it"
        )
    proto = model.logging_config
    collector, sampling = proto.log_collector_config, proto.sampling_config
    if collector.type not in ("", LOG_COLLECTOR_TYPE):
        raise ServingError(
            f"{where}: Cannot find LogCollector::Factory for type: {collector.type}; "
            f'expected type "{LOG_COLLECTOR_TYPE}" (TFRecord files of PredictionLog)'
        )
    if not 0.0 <= sampling.sampling_rate <= 1.0:
        raise ServingError(
            f"{where}: sampling_config.sampling_rate must lie in [0, 1]; received "
            f"{sampling.sampling_rate:g}"
        )
    if sampling.per_task_sampling_configs or sampling.attributes:
        raise ServingError(
            f"{where}: per_task_sampling_configs and attributes describe a fleet's datacenters, "
            "tasks and request origins, which this one server has not; set only "
            "sampling_config.sampling_rate"
        )
    limits = _log_limits(where, proto)
    return RequestLogConfig(
        _log_prefix(where, collector.filename_prefix, log_dir), sampling.sampling_rate, **limits
    )


def _log_prefix(where: str, text: str, log_dir: Path) -> str:
    """``filename_prefix`` as an absolute prefix inside ``log_dir`` (a relative one from it)."""
    if not text:
        raise ServingError(
            f"{where}: log_collector_config.filename_prefix is empty; name where the files go, "
            f'e.g. filename_prefix: "request_logs/<model>" (inside {log_dir})'
        )
    folder = text.endswith("/")
    prefix = paths.resolved(log_dir / text)
    if not paths.is_within(prefix, [log_dir]):
        raise ServingError(
            f"{where}: filename_prefix {text!r} lies outside {paths.resolved(log_dir)}, the "
            "folder of the model config file, where request logs may be written (symlinks and "
            "'..' resolved); write a prefix inside it, e.g. \"request_logs/<model>\""
        )
    return f"{prefix}/" if folder else str(prefix)


def _log_limits(where: str, proto: Any) -> dict[str, int]:
    """The rotation and queue limits of a ``custom_logging_config`` Struct (else defaults)."""
    from google.protobuf import struct_pb2

    if not proto.HasField("custom_logging_config"):
        return {}
    struct = struct_pb2.Struct()
    if not proto.custom_logging_config.Unpack(struct):
        raise ServingError(
            f"{where}: custom_logging_config holds {proto.custom_logging_config.type_url}; "
            "expected a google.protobuf.Struct with the keys "
            f"{', '.join(LOG_LIMITS)}"
        )
    limits: dict[str, int] = {}
    for key, value in struct.fields.items():
        kind = value.WhichOneof("kind")
        number = value.number_value if kind == "number_value" else -1.0
        least = 0 if key == "max_file_records" else 1
        if key not in LOG_LIMITS or number != int(number) or number < least:
            shown = f"{number:g}" if kind == "number_value" else f"a {kind}"
            raise ServingError(
                f"{where}: custom_logging_config {key!r}: {shown} is not accepted; expected the "
                f"keys {', '.join(LOG_LIMITS)} with whole numbers (>= 1; max_file_records >= 0)"
            )
        limits[key] = int(number)
    return limits


def single_model(name: str, base_path: str) -> list[ModelEntry]:
    """``--model_name``/``--model_base_path``: one model, latest version (TF Serving's rules).

    Raises:
        ServingError: a bad name or a relative base path.
    """
    from tensorflow_serving.config import model_server_config_pb2 as pb

    config = pb.ModelServerConfig()
    config.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
    return entries_from_proto(config)


def policy_from_proto(name: str, policy: Any) -> VersionPolicy:
    """A ``ServableVersionPolicy`` message as a policy (unset: ``Latest(1)``, as TF Serving)."""
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return All()
    if kind == "specific":
        if not policy.specific.versions:
            raise ServingError(
                f"model {name}: model_version_policy specific {{}} lists no versions; add "
                "`versions: N` lines"
            )
        return Specific(frozenset(policy.specific.versions))
    # latest { } without num_versions serves one version, as TF Serving does.
    return Latest(max(policy.latest.num_versions, 1) if kind == "latest" else 1)


def config_text(entries: Sequence[ModelEntry]) -> str:
    """``entries`` as ``ModelServerConfig`` text, what ``--model_config_file`` reads."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2 as pb

    config = pb.ModelServerConfig()
    config.model_config_list.SetInParent()
    for entry in entries:
        model = config.model_config_list.config.add(
            name=entry.name, base_path=str(entry.base_path), model_platform="tensorflow"
        )
        policy = entry.policy
        if isinstance(policy, Latest):
            model.model_version_policy.latest.num_versions = policy.n
        elif isinstance(policy, All):
            model.model_version_policy.all.SetInParent()
        elif isinstance(policy, Specific):
            model.model_version_policy.specific.versions.extend(sorted(policy.versions))
        else:
            raise TypeError(f"no TF Serving form for version policy {policy!r}")
        for label, version in sorted(entry.labels.items()):
            model.version_labels[label] = version
        if entry.logging is not None:
            _logging_to_proto(entry.logging, model.logging_config)
    return text_format.MessageToString(config)


def _logging_to_proto(logging: RequestLogConfig, proto: Any) -> None:
    """Write ``logging`` into an empty ``LoggingConfig`` (limits only where not the default)."""
    from google.protobuf import struct_pb2

    proto.log_collector_config.type = LOG_COLLECTOR_TYPE
    proto.log_collector_config.filename_prefix = logging.prefix
    proto.sampling_config.sampling_rate = logging.sampling_rate
    changed = {k: getattr(logging, k) for k, v in LOG_LIMITS.items() if getattr(logging, k) != v}
    if changed:
        struct = struct_pb2.Struct()
        struct.update(changed)
        proto.custom_logging_config.Pack(struct)
