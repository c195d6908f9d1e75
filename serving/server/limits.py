"""Bounds on what one request may make the server do, shared by REST and gRPC."""

DEFAULT_MAX_INPUT_ELEMENTS = 64 * 1024 * 1024
"""Elements one request input may hold (``--max_input_elements``): 256 MiB of float32,
four times the largest gRPC message the server reads."""
