"""TensorFlow's error text cut down to the op's own message (``serving/errors.py``)."""

from __future__ import annotations

import pytest

from kerasforge.serving.errors import tf_error_message

DEFAULT_EXECUTOR = (
    "Graph execution error:\n\nDetected at node Gather defined at (most recent call last):\n"
    "<stack traces unavailable>\nindices[0] = 7 is not in [0, 3)\n\t [[{{node Gather}}]] "
    "[Op:__inference_signature_wrapper_122]"
)
SINGLE_THREADED = (
    "Graph execution error:\n\nindices[0] = 7 is not in [0, 3) "
    "[Op:__inference_signature_wrapper_122]"
)


@pytest.mark.parametrize("message", [DEFAULT_EXECUTOR, SINGLE_THREADED])
def test_the_op_message_of_either_executor(message: str) -> None:
    assert tf_error_message(message) == "indices[0] = 7 is not in [0, 3)"


def test_a_one_line_message_stays_whole() -> None:
    text = "cannot compute Cast as input #0(zero-based) was expected to be a float tensor"
    assert tf_error_message(text) == text
