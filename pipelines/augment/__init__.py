"""Augmentation of training batches: images and text."""
