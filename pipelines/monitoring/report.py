"""The drift report's files: ``report.json``, ``report.md``, one plot per feature, and the
lines ``kerasforge monitor`` prints.

``report.json`` holds the model, version, source, the :class:`DriftReport` and both sides'
statistics (training's and live's, binned alike), so a later tool redraws or re-judges
without the data. ``report.md`` has one table per side (inputs, outputs): per feature the
training and live mean, standard deviation and 5/50/95% quantiles (numbers), PSI, KS and
chi-square p-values, the out-of-vocabulary rates (text), the verdict and its reasons.
``plots/<side>-<feature>.png`` draws the two histograms (shares per bin) side by side.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...serving.monitoring.drift import DriftReport, FeatureDrift
from ...serving.monitoring.statistics import TrainingStatistics
from ...serving.monitoring.summaries import CategoricalSummary, NumericSummary, TextSummary

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PLOTS = "plots"
MAX_LINES = 14
"""Feature lines printed (the worst first); the report has them all."""


@dataclass(frozen=True)
class Monitored:
    """One drift report and what it was computed from."""

    model: str
    version: int
    source: str
    training: TrainingStatistics
    live: TrainingStatistics
    report: DriftReport
    skipped: dict[str, int]


def write_report(found: Monitored, out: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plots into ``out``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "model": found.model,
        "version": found.version,
        "source": found.source,
        "skipped_records": found.skipped,
        "report": found.report.model_dump(),
        "training": found.training.model_dump(),
        "live": found.live.model_dump(),
    }
    (out / REPORT_JSON).write_text(json.dumps(document, indent=1))
    plots = write_plots(found, out / PLOTS)
    (out / REPORT_MD).write_text(markdown(found, {p.stem: p for p in plots}))
    return [out / REPORT_JSON, out / REPORT_MD, *plots]


def read_report(out: Path) -> dict[str, Any]:
    """The ``report.json`` document in ``out``."""
    return json.loads((out / REPORT_JSON).read_text())


def verdict_lines(report: DriftReport) -> list[str]:
    """One line per feature, the worst first (at most :data:`MAX_LINES`), then the count."""
    rows = [(side, name, d) for side, name, d in _features(report)]
    rows.sort(key=lambda r: {"alert": 0, "warn": 1, "ok": 2, "no_data": 3}[r[2].verdict])
    lines = [
        f"  {d.verdict:7s} {side}/{name}: {_figures(d)}"
        + (f" ({'; '.join(d.reasons)})" if d.reasons else "")
        for side, name, d in rows[:MAX_LINES]
    ]
    if len(rows) > MAX_LINES:
        lines.append(f"  ... and {len(rows) - MAX_LINES} more features in the report")
    return lines


def markdown(found: Monitored, plots: dict[str, Path]) -> str:
    """``report.md``: a header, then one table per side."""
    r = found.report
    lines = [
        f"# Drift report: {found.model} version {found.version}",
        "",
        f"- live: {found.source}, {r.live_rows} rows ({found.live.output_rows} with outputs)",
        f"- training: {found.training.rows} rows, {found.training.output_rows} validation "
        "rows for the outputs",
        f"- verdict: **{r.verdict}**"
        + (f" (alerts: {', '.join(r.alerts())})" if r.alerts() else ""),
    ]
    for side, drifts in (("inputs", r.inputs), ("outputs", r.outputs)):
        if not drifts:
            continue
        lines += ["", f"## {side.capitalize()}", "", _HEADER, _RULE]
        for name, drift in drifts.items():
            train = getattr(found.training, side)[name]
            live = getattr(found.live, side)[name]
            plot = plots.get(plot_name(side, name))
            label = f"[{name}]({PLOTS}/{plot.name})" if plot else name
            lines.append(_row(label, drift, train, live))
    return "\n".join(lines) + "\n"


_HEADER = (
    "| feature | mean (train / live) | std (train / live) | q05 / q50 / q95 train | "
    "q05 / q50 / q95 live | PSI | KS p | chi2 p | OOV (train / live) | verdict | reasons |"
)
_RULE = "|" + "---|" * 11


def _row(label: str, d: FeatureDrift, train: Any, live: Any) -> str:
    t, v = _numeric(train), _numeric(live)
    cells = [
        label,
        _pair(t and t.mean, v and v.mean),
        _pair(t and t.std, v and v.std),
        _quantiles(t),
        _quantiles(v),
        _n(d.psi),
        _n(d.ks_p_value),
        _n(d.chi2_p_value),
        _pair(d.oov_rate_training, d.oov_rate_live),
        f"**{d.verdict}**" if d.verdict in ("warn", "alert") else d.verdict,
        "; ".join(d.reasons),
    ]
    return "| " + " | ".join(cells) + " |"


def _numeric(summary: Any) -> NumericSummary | None:
    if isinstance(summary, TextSummary):
        return summary.length
    return summary if isinstance(summary, NumericSummary) else None


def _quantiles(summary: NumericSummary | None) -> str:
    if summary is None or not summary.count:
        return ""
    return " / ".join(_n(summary.quantile(q)) for q in (0.05, 0.5, 0.95))


def _pair(training: float | None, live: float | None) -> str:
    return "" if training is None and live is None else f"{_n(training)} / {_n(live)}"


def _n(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _figures(d: FeatureDrift) -> str:
    parts = [
        f"{key} {value:.3g}"
        for key, value in (
            ("psi", d.psi),
            ("ks_p", d.ks_p_value),
            ("chi2_p", d.chi2_p_value),
            ("oov_diff", d.oov_rate_difference),
        )
        if value is not None
    ]
    return ", ".join(parts) or f"{d.live_count} live rows"


def _features(report: DriftReport) -> list[tuple[str, str, FeatureDrift]]:
    return [
        (side, name, drift)
        for side, drifts in (("inputs", report.inputs), ("outputs", report.outputs))
        for name, drift in drifts.items()
    ]


def plot_name(side: str, feature: str) -> str:
    """A plot's file stem: ``inputs-channel_0`` (characters unsafe in names replaced)."""
    return f"{side}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', feature)}"


def write_plots(found: Monitored, folder: Path) -> list[Path]:
    """One PNG per compared feature: training's and live's shares per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for side, name, drift in _features(found.report):
        train, live = getattr(found.training, side)[name], getattr(found.live, side)[name]
        labels, shares_t, shares_l = _bins(train, live)
        fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(labels) + 2), 3.2))
        positions = range(len(labels))
        ax.bar([p - 0.2 for p in positions], shares_t, width=0.4, label="training")
        ax.bar([p + 0.2 for p in positions], shares_l, width=0.4, label="live")
        ax.set_xticks(list(positions), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("share")
        ax.set_title(
            f"{side}/{name}: {drift.verdict}"
            + (f" (PSI {drift.psi:.3g})" if drift.psi is not None else "")
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / f"{plot_name(side, name)}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def _bins(train: Any, live: Any) -> tuple[list[str], list[float], list[float]]:
    """Bin labels and each side's share per bin (a text feature: its lengths)."""
    if isinstance(train, TextSummary):
        train, live = train.length, live.length
    if isinstance(train, CategoricalSummary):
        labels = [*train.categories, "other"]
        counts_t, counts_l = [*train.counts, train.other], [*live.counts, live.other]
    else:
        edges = train.edges
        labels = [f"<{edges[0]:.3g}"]
        labels += [f"{a:.3g}-{b:.3g}" for a, b in itertools.pairwise(edges)]
        labels.append(f">{edges[-1]:.3g}")
        counts_t, counts_l = train.counts, live.counts
    total_t, total_l = max(1, sum(counts_t)), max(1, sum(counts_l))
    return labels, [c / total_t for c in counts_t], [c / total_l for c in counts_l]
