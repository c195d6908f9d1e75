"""Bounds on what one request may make the server do, shared by REST and gRPC."""

DEFAULT_MAX_INPUT_ELEMENTS = 64 * 1024 * 1024
"""Elements one request input may hold (``--max_input_elements``): 256 MiB of float32,
four times the largest gRPC message the server reads."""

MAX_FILLED_ELEMENTS = 65536
"""Elements a request input may declare when it sends fewer values than its shape holds.

TensorFlow pads such a typed field with its last value (zeros when it has none); a few
bytes could then ask for a tensor of any size. Up to this many elements (256 KiB of
float32) the padding is done as TensorFlow does; beyond, the input is refused."""
