"""Tracking: the MLflow run, store and model, fallback and replay, registry, release, tuning."""
