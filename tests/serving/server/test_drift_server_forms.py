"""Drift tracking in a real ``kerasforge serve`` for a tabular and a text model.

One server serves the diabetes regressor and the chase text classifier, each published
with its training statistics (``monitored_once``). Each phase's traffic is sent over REST
predict and captured once the tracking thread has taken it in: first held-out rows of the
test split, which training never saw (diabetes: all 89; chase: 300 texts), then held-out
rows shifted (diabetes: the 67 validation rows, ``bmi`` three standard deviations heavier,
so that the window holds no row twice; chase: the same texts with five unknown words
added to each). The false-alarm rate over many held-out windows is measured
in-process (``tests/serving/monitoring/test_drift_calibration.py``).
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT, ServerProcess
from tests.serving.server.test_drift_server import gauge, post, settled

pytestmark = pytest.mark.heavy  # publishes models and starts a server

WINDOW = 300
UNKNOWN_WORDS = "zebra quokka axolotl narwhal okapi"
MODELS = """model_config_list {{
  config {{ name: "{tabular}" base_path: "{root}/{tabular}" model_platform: "tensorflow" }}
  config {{ name: "{text}" base_path: "{root}/{text}" model_platform: "tensorflow" }}
}}
"""


def send(server: ServerProcess, name: str, rows: list, per_request: int = 10) -> int:
    for start in range(0, len(rows), per_request):
        body = {"instances": rows[start : start + per_request]}
        assert post(f"{server.url}/v1/models/{name}:predict", body) == 200
    return -(-len(rows) // per_request)


@pytest.fixture(scope="module")
def drift(monitored_once, tmp_path_factory) -> SimpleNamespace:
    """Serve both versions, send each phase, capture what the server said after it."""
    tabular = monitored_once(ROOT / "configs" / "diabetes_mlp.yaml")
    text = monitored_once(ROOT / "configs" / "chase_transformer.yaml")
    root = tmp_path_factory.mktemp("drift-forms")
    for version in (tabular, text):
        shutil.copytree(version.published.path, root / version.name / "1")
    (root / "models.config").write_text(
        MODELS.format(root=root, tabular=tabular.name, text=text.name)
    )
    (root / "monitoring.config").write_text("prometheus_config { enable: true }")
    server = ServerProcess(
        None,
        *("--model_config_file", str(root / "models.config")),
        *("--monitoring_config_file", str(root / "monitoring.config")),
        *("--drift_window_size", str(WINDOW), "--drift_interval_seconds", "0.2"),
    )
    found = SimpleNamespace(tabular=tabular, text=text)
    names = list(tabular.splits.info.feature_names)
    rows = tabular.splits.x_test  # 89 rows: the window holds them all
    heavier = tabular.splits.x_val.copy()
    bmi = names.index("bmi")
    heavier[:, bmi] += 3 * tabular.splits.x_train[:, bmi].std()
    texts = [str(t) for t in text.splits.x_test[:WINDOW]]
    try:
        sent = send(server, tabular.name, rows.tolist())
        found.table_calm = settled(server, sent, tabular.name)
        sent += send(server, tabular.name, heavier.tolist())
        found.table_shifted = settled(server, sent, tabular.name)
        sent += send(server, text.name, texts)
        found.text_calm = settled(server, sent, text.name)
        sent += send(server, text.name, [f"{t} {UNKNOWN_WORDS}" for t in texts])
        found.text_shifted = settled(server, sent, text.name)
    finally:
        server.stop()
    return found


def test_held_out_rows_raise_no_alert(drift):
    calm = drift.table_calm
    assert calm.status == 200, calm.report
    names = list(drift.tabular.splits.info.feature_names)
    assert calm.report["window"]["rows"] == len(drift.tabular.splits.x_test)
    assert set(calm.report["inputs"]) == set(names) and calm.report["alerts"] == []
    assert all(calm.report["inputs"][n]["verdict"] == "ok" for n in names)
    labels = {"model": drift.tabular.name, "feature": "bmi", "direction": "input"}
    assert gauge(calm.samples, "kerasforge_drift_verdict", **labels) == 0


def test_a_shifted_column_alerts_naming_it_and_moves_its_gauges(drift):
    shifted = drift.table_shifted.report
    assert "inputs/bmi" in shifted["alerts"] and shifted["inputs"]["bmi"]["verdict"] == "alert"
    others = [n for n in drift.tabular.splits.info.feature_names if n != "bmi"]
    assert all(f"inputs/{n}" not in shifted["alerts"] for n in others)
    labels = {"model": drift.tabular.name, "feature": "bmi", "direction": "input"}
    before = gauge(drift.table_calm.samples, "kerasforge_drift_psi", **labels)
    after = gauge(drift.table_shifted.samples, "kerasforge_drift_psi", **labels)
    assert before is not None and after is not None and after > 0.25 > before
    assert gauge(drift.table_shifted.samples, "kerasforge_drift_verdict", **labels) == 2


def test_held_out_texts_stay_ok(drift):
    calm = drift.text_calm
    assert calm.status == 200, calm.report
    assert calm.report["window"]["rows"] == WINDOW
    assert calm.report["inputs"]["text"]["verdict"] == "ok" and calm.report["alerts"] == []
    assert calm.report["inputs"]["text"]["oov_rate_difference"] < 0.05  # drift.py's oov_warn


def test_unknown_words_alert_on_the_text_and_move_its_gauges(drift):
    shifted = drift.text_shifted.report
    assert "inputs/text" in shifted["alerts"]
    assert shifted["inputs"]["text"]["oov_rate_difference"] >= 0.10  # drift.py's oov_alert
    labels = {"model": drift.text.name, "feature": "text", "direction": "input"}
    before = gauge(drift.text_calm.samples, "kerasforge_drift_psi", **labels)
    after = gauge(drift.text_shifted.samples, "kerasforge_drift_psi", **labels)
    assert before is not None and after is not None and after > 0.25 > before
    assert gauge(drift.text_shifted.samples, "kerasforge_drift_verdict", **labels) == 2
