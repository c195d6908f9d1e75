"""Argument checks shared by the generative builders (no Keras import)."""

from __future__ import annotations

from collections.abc import Sequence


def check_generative(
    input_shape: Sequence[int], latent_dim: int, sizes: Sequence[int], what: str
) -> None:
    """Raise ``ValueError`` naming every bad argument and the value received."""
    problems = []
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        problems.append(
            f"input_shape must be (height, width, channels) of positive ints; got {input_shape!r}"
        )
    if latent_dim < 1:
        problems.append(f"latent_dim must be at least 1; got {latent_dim!r}")
    if not sizes or any(int(s) < 1 for s in sizes):
        problems.append(f"{what} must be a non-empty list of positive ints; got {sizes!r}")
    if problems:
        raise ValueError("; ".join(problems))
