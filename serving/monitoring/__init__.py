"""Monitoring a served model against its training data (NumPy and pydantic only).

- ``summaries.py``: mergeable summaries of one feature (numeric histogram, categories, text).
- ``features.py``: raw batches -> the per-row values each input kind and output is summarised by.
- ``statistics.py``: ``TrainingStatistics``, the ``statistics.json`` beside the model card.
- ``stat_tests.py``: PSI, Kolmogorov-Smirnov (binned and exact), chi-square, in NumPy.
- ``drift.py``: ``drift_report`` -> ``DriftReport``, a verdict per feature, the thresholds.
- ``window.py``: ``LiveWindow``, the server's bounded window of the last N served rows.
"""
