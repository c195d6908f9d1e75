"""What the gRPC server trusts: TLS from TF Serving's ``SSLConfig``, and which reloads it takes.

``--ssl_config_file`` names a ``tensorflow.serving.SSLConfig`` text proto
(``config/ssl_config.proto``: PEM strings ``server_key``, ``server_cert``,
``custom_ca``, and ``client_verify``); :func:`server_credentials` turns it into
gRPC server credentials as TF Serving's ``server.cc`` (``BuildServerCredentials``)
does: with ``client_verify``, clients must present a certificate signed by
``custom_ca``; without it, none is asked for.

``HandleReloadConfigRequest`` loads the SavedModels a client names, and loading
runs their graphs. It is refused unless ``--enable_model_config_reload`` is given
(UNIMPLEMENTED: gRPC's code for a method this server does not enable), and even
then every base path must lie under the roots configured at start-up
(:mod:`kerasforge.serving.server.paths`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import grpc

from ..errors import ServingError
from . import model_config, paths
from .model_config import ModelEntry
from .store import ModelStore
from .tf_serving_protos import read_text_proto

SSL_EXAMPLE = (
    'server_key: "-----BEGIN PRIVATE KEY-----\\n..." server_cert: "-----BEGIN CERTIFICATE-----'
    '\\n..." custom_ca: "" client_verify: false'
)
RELOAD_FLAG = "--enable_model_config_reload"


def server_credentials(path: Path) -> grpc.ServerCredentials:
    """gRPC server credentials from the ``SSLConfig`` text proto at ``path``.

    Raises:
        ServingError: the file cannot be read or parsed, it lacks the key or the
            certificate, or ``client_verify`` is set without ``custom_ca``.
    """
    config = read_text_proto(path, "SSLConfig", "--ssl_config_file", SSL_EXAMPLE)
    if not config.server_key or not config.server_cert:
        raise ServingError(
            f"--ssl_config_file {str(path)!r} needs both server_key and server_cert (PEM text, "
            f"not file names); e.g. {SSL_EXAMPLE}"
        )
    if config.client_verify and not config.custom_ca:
        raise ServingError(
            f"--ssl_config_file {str(path)!r} sets client_verify but no custom_ca: put the PEM "
            "of the authority that signs client certificates in custom_ca"
        )
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() or None,
        require_client_auth=config.client_verify,
    )


def start_up_roots(store: ModelStore) -> tuple[Path, ...]:
    """The folders reloads may name: the repository root, else (a store built from a
    config) the base paths of the models it serves now."""
    if store.root is not None:
        roots = [store.root]
    else:
        roots = [store.entry(name).base_path for name in store.model_names()]
    return tuple(dict.fromkeys(paths.resolved(r) for r in roots))


class ReloadGate:
    """Decides whether a ``HandleReloadConfigRequest`` may be applied.

    Args:
        enabled: ``--enable_model_config_reload`` was given.
        roots: the folders base paths must lie under (:func:`start_up_roots`).
    """

    def __init__(self, enabled: bool, roots: Iterable[Path]) -> None:
        self.enabled = enabled
        self.roots = tuple(roots)

    def entries(self, config: object) -> list[ModelEntry]:
        """The models of a reload's ``ModelServerConfig``, once it is allowed.

        Raises:
            ServingError: reloads are disabled (UNIMPLEMENTED), the config is not a
                ``model_config_list`` or a base path lies outside the roots
                (INVALID_ARGUMENT).
        """
        if not self.enabled:
            raise ServingError(
                "HandleReloadConfigRequest is disabled on this server: it loads and runs the "
                f"SavedModels a client names. Start the server with {RELOAD_FLAG} to accept "
                "new model configs over gRPC (base paths must then lie under the start-up "
                "model roots)",
                status=501,
            )
        if config.WhichOneof("config") != "model_config_list":  # type: ignore[attr-defined]
            raise ServingError(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
                "ModelConfigList is currently supported"
            )
        entries = model_config.entries_from_proto(config)
        refused = paths.outside([e.base_path for e in entries], self.roots)
        if refused:
            raise ServingError(
                f"base_path {refused[0]} lies outside the model roots this server was started "
                f"with ({', '.join(map(str, self.roots)) or 'none'}); symlinks and '..' are "
                "resolved first. Put the model under one of them, or restart the server with "
                "a config that names its folder"
            )
        return entries
