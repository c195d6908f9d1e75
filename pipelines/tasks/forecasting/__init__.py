"""Forecasting: the training side and the serving contract."""
