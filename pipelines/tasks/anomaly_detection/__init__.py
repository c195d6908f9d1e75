"""Anomaly detection: the training side and the serving contract."""
