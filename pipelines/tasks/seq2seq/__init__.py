"""Sequence to sequence: the training side and the serving contract."""
