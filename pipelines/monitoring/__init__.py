"""Offline monitoring: ``kerasforge monitor`` (drift reports from logs or data files, in
MLflow) and ``--to-dataset`` (logged requests back into training data)."""
