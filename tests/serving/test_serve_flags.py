"""``kerasforge serve`` takes every flag ``tensorflow_model_server`` defines, as TF Serving
parses it, and says which of them change nothing here."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from kerasforge.cli.main import main
from kerasforge.serving import cli
from kerasforge.serving.serve_flags import IGNORED_FLAGS, add_serve

# Every flag of tensorflow_serving/model_servers/main.cc (`flag_list`, 48 flags), with a value
# of its type; `kerasforge serve` must parse each one as written for TF Serving.
MAIN_CC_FLAGS = {
    "port": "8500",
    "grpc_socket_path": "/tmp/tfs.sock",
    "rest_api_port": "8501",
    "rest_api_num_threads": "4",
    "rest_api_timeout_in_ms": "5000",
    "rest_api_enable_cors_support": "true",
    "enable_batching": "false",
    "allow_version_labels_for_unavailable_models": "false",
    "batching_parameters_file": "",
    "enable_per_model_batching_parameters": "false",
    "model_config_file": "/models/models.config",
    "model_config_file_poll_wait_seconds": "60",
    "model_name": "half_plus_two",
    "model_base_path": "/models/half_plus_two",
    "num_load_threads": "2",
    "num_unload_threads": "2",
    "max_num_load_retries": "3",
    "load_retry_interval_micros": "1000000",
    "file_system_poll_wait_seconds": "1",
    "flush_filesystem_caches": "true",
    "tensorflow_session_parallelism": "0",
    "tensorflow_session_config_file": "/models/session.config",
    "tensorflow_intra_op_parallelism": "0",
    "tensorflow_inter_op_parallelism": "0",
    "use_alts_credentials": "false",
    "ssl_config_file": "/models/ssl.config",
    "platform_config_file": "/models/platform.config",
    "per_process_gpu_memory_fraction": "0.5",
    "saved_model_tags": "serve,gpu",
    "grpc_channel_arguments": "grpc.max_connection_age_ms=60000,grpc.primary_user_agent=x",
    "grpc_max_threads": "8",
    "enable_model_warmup": "true",
    "num_request_iterations_for_warmup": "2",
    "version": None,
    "monitoring_config_file": "/models/monitoring.config",
    "remove_unused_fields_from_bundle_metagraph": "true",
    "prefer_tflite_model": "false",
    "num_tflite_pools": "1",
    "num_tflite_interpreters_per_pool": "1",
    "enable_signature_method_name_check": "true",
    "xla_cpu_compilation_enabled": "false",
    "xla_gpu_compilation_enabled": "false",
    "enable_profiler": "true",
    "thread_pool_factory_config_file": "/models/pool.config",
    "mixed_precision": "bfloat16",
    "skip_initialize_tpu": "true",
    "enable_grpc_healthcheck_service": "true",
    "enable_serialization_as_tensor_content": "true",
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kerasforge")
    add_serve(parser.add_subparsers(), lambda args: 0)
    return parser.parse_args(["serve", *argv])


def test_the_table_is_main_cc_s_flag_list():
    assert len(MAIN_CC_FLAGS) == 48


@pytest.mark.parametrize(("flag", "value"), MAIN_CC_FLAGS.items())
def test_every_tf_serving_flag_parses_as_written_for_tf_serving(flag, value):
    # TF Serving's flags are --name=value (tensorflow/core/util/command_line_flags.cc).
    parse(f"--{flag}" if value is None else f"--{flag}={value}")


def test_all_flags_at_once_parse_into_the_server_s_options():
    argv = [f"--{f}={v}" for f, v in MAIN_CC_FLAGS.items() if v and f != "model_config_file"]
    args = parse(*[a for a in argv if not a.startswith(("--monitoring", "--batching"))])
    options = cli.server_options(args)
    assert options.grpc.socket_path == "/tmp/tfs.sock"
    assert options.grpc.channel_arguments == (
        ("grpc.max_connection_age_ms", 60000),  # a whole number passes as an int (server.cc)
        ("grpc.primary_user_agent", "x"),
    )
    assert options.grpc.tensor_content and options.method_name_check and options.cors
    assert options.grpc.healthcheck
    # Each gRPC flag lands once, in the listener's share (ServerOptions.grpc).
    assert (options.grpc.port, options.grpc.workers) == (8500, 8)
    assert options.grpc.ssl_config == Path("/models/ssl.config")
    assert options.saved_model_tags == ("gpu", "serve")
    assert (options.max_load_retries, options.load_retry_interval_s) == (3, 1.0)
    assert options.limits.call_timeout_s == 5.0


def test_tf_serving_defaults_hold_without_flags():
    # main.cc / server.h defaults: typed fields, no method name check, tags "serve",
    # 5 load retries a minute apart, a 30 s REST timeout, no health service.
    options = cli.server_options(parse())
    assert not options.grpc.tensor_content and not options.method_name_check
    assert not options.grpc.healthcheck and not options.cors and not options.grpc.config_reload
    assert options.saved_model_tags == ("serve",)
    assert (options.max_load_retries, options.load_retry_interval_s) == (5, 60.0)
    assert options.limits.call_timeout_s == 30.0


def test_a_negative_retry_interval_means_no_wait():
    # main.cc: "If set negative, it doesn't wait."
    args = parse("--load_retry_interval_micros=-1")
    assert cli.server_options(args).load_retry_interval_s == 0.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--grpc_channel_arguments=grpc.x"], "expected key=value pairs"),
        (["--saved_model_tags=,"], "expected tags such as serve"),
        (["--max_input_elements=0"], "expected a whole number >= 1"),
    ],
)
def test_bad_flag_values_are_one_line_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["serve", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_version_prints_tf_serving_s_two_lines(capsys):
    # main.cc: "TensorFlow ModelServer: <version>\nTensorFlow Library: <version>".
    import tensorflow as tf

    assert main(["serve", "--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("TensorFlow ModelServer: kerasforge ")
    assert lines[1] == f"TensorFlow Library: {tf.__version__}"


def test_ignored_flags_are_logged_once_each_with_why():
    args = parse("--enable_profiler=false", "--num_tflite_pools", "3", "--mixed_precision=bfloat16")
    lines = cli.ignored_flags_given(args)
    assert sorted(lines) == [
        f"--enable_profiler=false is ignored: {IGNORED_FLAGS['--enable_profiler']}",
        f"--mixed_precision=bfloat16 is ignored: {IGNORED_FLAGS['--mixed_precision']}",
        f"--num_tflite_pools=3 is ignored: {IGNORED_FLAGS['--num_tflite_pools']}",
    ]
    assert cli.ignored_flags_given(parse()) == []


def test_every_ignored_flag_is_one_of_tf_serving_s():
    assert {flag[2:] for flag in IGNORED_FLAGS} <= set(MAIN_CC_FLAGS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--use_alts_credentials=true"], "ALTS needs Google Cloud's handshaker"),
        # server.cc BuildAndStart refuses the pair with this message.
        (
            ["--use_alts_credentials=true", "--ssl_config_file=/x"],
            "Either use_alts_credentials must be false or ssl_config_file must be empty.",
        ),
    ],
)
def test_alts_is_refused_before_anything_starts(capsys, caplog, argv, message):
    with caplog.at_level(logging.INFO):
        code = main(["serve", *argv])
    assert code == 2
    assert message in capsys.readouterr().err
