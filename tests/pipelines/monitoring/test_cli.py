"""`kerasforge monitor`: its checks before TensorFlow starts (`pipelines/monitoring/cli.py`)."""

from __future__ import annotations

from kerasforge.cli.main import main


def test_missing_request_logs_say_how_the_server_writes_them(tmp_path, capsys):
    missing = tmp_path / "request_logs"
    assert main(["monitor", "--model", "digits_cnn", "--logs", str(missing)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: monitor: no request logs at {str(missing)!r}")
    assert "logging_config" in line and "--data FILE" in line
