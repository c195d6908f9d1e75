"""docker/prometheus/drift_alerts.yml: Prometheus rules over the server's drift gauges.

The rules parse as YAML in Prometheus' rule-file layout (``groups`` of ``rules``, each
with ``alert``, ``expr``, ``for``), every metric they name is one the server exports
(the families :class:`DriftGauges` registers), and their thresholds are drift.py's.
"""

from __future__ import annotations

import re

import yaml

from kerasforge.serving.monitoring.drift import DEFAULT_THRESHOLDS
from kerasforge.serving.server.drift_gauges import VERDICT_VALUES, DriftGauges
from kerasforge.serving.server.metrics import Metrics
from tests.conftest import ROOT

RULES = ROOT / "docker" / "prometheus" / "drift_alerts.yml"


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported_names() -> set[str]:
    metrics = Metrics()
    DriftGauges(metrics.registry)
    names = set()
    for family in metrics.registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
    return names


def test_every_rule_has_prometheus_rule_fields():
    found = rules()
    assert len(found) >= 4
    for rule in found:
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["expr"]


def test_every_metric_named_is_exported_by_the_server():
    exported = exported_names()
    named = {name for rule in rules() for name in re.findall(r"kerasforge_\w+", rule["expr"])}
    assert named and named <= exported, named - exported


def test_the_thresholds_are_drift_pys():
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}
    assert f">= {VERDICT_VALUES['alert']}" in by_name["KerasforgeFeatureDrift"]
    assert f"== {VERDICT_VALUES['warn']}" in by_name["KerasforgeFeatureDriftWarning"]
    psi = re.search(r"kerasforge_drift_psi >= ([\d.]+)", by_name["KerasforgeMajorPopulationShift"])
    assert psi and float(psi.group(1)) == DEFAULT_THRESHOLDS.psi_alert
    oov = re.search(r">= ([\d.]+)", by_name["KerasforgeVocabularyDrift"])
    assert oov and float(oov.group(1)) == DEFAULT_THRESHOLDS.oov_alert
