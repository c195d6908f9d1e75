"""What the gRPC server trusts: TLS from TF Serving's SSLConfig (``--ssl_config_file``) and
HandleReloadConfigRequest only when enabled, only under the start-up model roots."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import grpc
import numpy as np
import pytest

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import grpc_api
from kerasforge.serving.server.store import ModelStore
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # saves models and starts servers


def save_writer_model(path: Path, marker: Path) -> Path:
    """A SavedModel whose ``serving_default`` writes ``marker`` when it runs: what a crafted
    model sent through a reload can do once it is served."""
    import tensorflow as tf

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def run(self, x):
            tf.io.write_file(str(marker), "written by a served model")
            return {"y": x}

    module = Writer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.run})
    return path


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("roots") / "models"
    save_example_model(root / "ex" / "1")
    outside = tmp_path_factory.mktemp("outside")
    marker = outside / "pwned.txt"
    save_writer_model(outside / "evil" / "1", marker)
    return root, outside, marker


def reload_request(name: str, base_path: Path):
    from tensorflow_serving.apis import model_management_pb2

    request = model_management_pb2.ReloadConfigRequest()
    request.config.model_config_list.config.add(
        name=name, base_path=str(base_path), model_platform="tensorflow"
    )
    return request


def served(root: Path, **options):
    store = ModelStore(root)
    store.refresh()
    server, port = grpc_api.serve(store, grpc_api.GrpcOptions(port=0, **options))
    return server, grpc.insecure_channel(f"127.0.0.1:{port}")


def run_writer(channel: grpc.Channel, name: str) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 2), np.float32)))
    prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)


def reload(channel: grpc.Channel, name: str, base_path: Path) -> grpc.RpcError | None:
    from tensorflow_serving.apis import model_service_pb2_grpc

    try:
        model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            reload_request(name, base_path), timeout=60
        )
    except grpc.RpcError as exc:
        return exc
    return None


def test_reload_is_refused_unless_enabled_and_nothing_is_loaded(places):
    root, outside, marker = places
    server, channel = served(root)
    try:
        error = reload(channel, "evil", outside / "evil")
        # Disabled by default: UNIMPLEMENTED (gRPC's code for a method not enabled), naming
        # the flag. model_service_impl.cc would load it: the deviation this test pins.
        assert error is not None and error.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "--enable_model_config_reload" in error.details()
        with pytest.raises(grpc.RpcError) as info:
            run_writer(channel, "evil")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert not marker.exists()
    finally:
        channel.close()
        server.stop(grace=2).wait()


def test_enabled_reload_takes_base_paths_under_the_roots_only(places, tmp_path):
    root, outside, marker = places
    server, channel = served(root, config_reload=True)
    (root / "link").symlink_to(outside / "evil", target_is_directory=True)
    try:
        for path in (outside / "evil", root / ".." / ".." / outside.name / "evil", root / "link"):
            error = reload(channel, "evil", path)
            assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "lies outside the model roots" in error.details()
            assert str(root.resolve()) in error.details()
        with pytest.raises(grpc.RpcError):
            run_writer(channel, "evil")
        assert not marker.exists()
        # A base path under the root whose version folder links elsewhere is served (the
        # repository's owner placed the link; TF Serving follows links too).
        (root / "linked").mkdir()
        (root / "linked" / "1").symlink_to(outside / "evil" / "1", target_is_directory=True)
        assert reload(channel, "linked", root / "linked") is None
        run_writer(channel, "linked")
        assert marker.exists()  # the positive control: served models do run
    finally:
        marker.unlink(missing_ok=True)
        channel.close()
        server.stop(grace=2).wait()


def make_pki(folder: Path) -> dict[str, bytes]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def issue(name, issuer_name, issuer_key, ca=False, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name or subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        pem_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return key, subject, cert.public_bytes(serialization.Encoding.PEM), pem_key

    ca_key, ca_name, ca_pem, _ = issue("test-ca", None, None, ca=True)
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    _, _, server_pem, server_key = issue("127.0.0.1", ca_name, ca_key, san=san)
    _, _, client_pem, client_key = issue("client", ca_name, ca_key)
    return {
        "ca": ca_pem,
        "server_cert": server_pem,
        "server_key": server_key,
        "client_cert": client_pem,
        "client_key": client_key,
    }


def ssl_config(folder: Path, pki: dict[str, bytes], client_verify: bool) -> Path:
    # config/ssl_config.proto: PEM text in server_key, server_cert, custom_ca; client_verify.
    def quoted(pem: bytes) -> str:
        return '"' + pem.decode().replace("\n", "\\n") + '"'

    path = folder / f"ssl_{client_verify}.cfg"
    path.write_text(
        f"server_key: {quoted(pki['server_key'])}\nserver_cert: {quoted(pki['server_cert'])}\n"
        f"custom_ca: {quoted(pki['ca'])}\nclient_verify: {str(client_verify).lower()}\n"
    )
    return path


def status_over(channel: grpc.Channel):
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "ex"
    return model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)


@pytest.mark.parametrize("client_verify", [False, True])
def test_tls_from_an_ssl_config_file(places, tmp_path, client_verify):
    root, _, _ = places
    pki = make_pki(tmp_path)
    config = ssl_config(tmp_path, pki, client_verify)
    store = ModelStore(root)
    store.refresh()
    socket = tmp_path / "tls.sock"
    options = grpc_api.GrpcOptions(port=0, ssl_config=config, socket_path=str(socket))
    server, port = grpc_api.serve(store, options)
    try:
        # server.cc: the listener speaks TLS only.
        with grpc.insecure_channel(f"127.0.0.1:{port}") as plain, pytest.raises(grpc.RpcError):
            status_over(plain)
        anonymous = grpc.ssl_channel_credentials(root_certificates=pki["ca"])
        with grpc.secure_channel(f"127.0.0.1:{port}", anonymous) as chan:
            if client_verify:  # GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                with pytest.raises(grpc.RpcError):
                    status_over(chan)
            else:
                assert status_over(chan).model_version_status[0].version == 1
        mutual = grpc.ssl_channel_credentials(pki["ca"], pki["client_key"], pki["client_cert"])
        with grpc.secure_channel(f"127.0.0.1:{port}", mutual) as chan:
            assert status_over(chan).model_version_status[0].version == 1
        # server.cc: the UNIX socket gets the same credentials.
        with grpc.secure_channel(
            f"unix:{socket}", mutual, options=[("grpc.ssl_target_name_override", "localhost")]
        ) as chan:
            assert status_over(chan).model_version_status[0].version == 1
    finally:
        server.stop(grace=2).wait()


def test_a_bad_ssl_config_is_one_clear_error(places, tmp_path):
    root, _, _ = places
    store = ModelStore(root)
    incomplete = tmp_path / "ssl.cfg"
    incomplete.write_text('server_cert: "x"\n')
    with pytest.raises(ServingError, match="needs both server_key and server_cert"):
        grpc_api.serve(store, grpc_api.GrpcOptions(port=0, ssl_config=incomplete))
    incomplete.write_text("server_keys: 1\n")
    with pytest.raises(ServingError, match="is not a SSLConfig text proto"):
        grpc_api.serve(store, grpc_api.GrpcOptions(port=0, ssl_config=incomplete))
    with pytest.raises(ServingError, match="cannot be read"):
        grpc_api.serve(store, grpc_api.GrpcOptions(port=0, ssl_config=tmp_path / "none"))
    assert os.path.exists(incomplete)
