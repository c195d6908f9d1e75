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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

from ..errors import ServingError


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


@dataclass(frozen=True)
class ModelEntry:
    """One model of the server config (TF Serving's ``ModelConfig``).

    Attributes:
        name: the model's name in requests.
        base_path: the folder holding its ``<version>/`` directories.
        policy: which versions on disk are served.
        labels: version labels (``stable -> 3``) requests may name instead of a version.
    """

    name: str
    base_path: Path
    policy: VersionPolicy = field(default_factory=Latest)
    labels: Mapping[str, int] = field(default_factory=dict)


def read_config(path: str | Path) -> list[ModelEntry]:
    """The models of the text-proto ``ModelServerConfig`` file at ``path``.

    Raises:
        ServingError: the file is unreadable, does not parse, or breaks TF Serving's
            rules; one line naming the file, the problem and the fix.
    """
    from google.protobuf import text_format
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
        return entries_from_proto(config)
    except ServingError as exc:
        raise ServingError(f"--model_config_file {str(path)!r}: {exc}") from None


def entries_from_proto(config: Any) -> list[ModelEntry]:
    """The models of a ``ModelServerConfig`` message, checked as TF Serving checks them.

    Raises:
        ServingError: a ``custom_model_config``, a model listed twice, a platform
            other than ``tensorflow``, a relative base path or a bad version policy.
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
            )
        )
    return entries


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
    return text_format.MessageToString(config)
