"""The JSON nesting bound of request bodies (``json_tensor.loads``): refused past
``MAX_DEPTH`` levels, whatever the brackets, with strings ignored."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import json_tensor

DEPTH = json_tensor.MAX_DEPTH


def deepest(raw: bytes) -> int:
    """The plain reference: the largest running depth over the body, strings skipped."""
    depth = top = 0
    for char in json_tensor._STRING.sub(b"", raw).decode("latin-1"):
        depth += 1 if char in "[{" else -1 if char in "]}" else 0
        top = max(top, depth)
    return top


def nested(depth: int) -> object:
    """Lists and objects in turn (the lists of the lowest levels with a sibling); brackets
    inside its strings do not count."""
    value: object = 1.5
    for level in range(depth):
        in_list = [value, 2] if level < 8 else [value]
        value = in_list if level % 2 else {"k": value, "s": "[[{"}
    return value


@pytest.mark.parametrize("depth", [1, 5, DEPTH - 1, DEPTH, DEPTH + 1, 3 * DEPTH])
def test_valid_bodies_are_refused_exactly_past_the_bound(depth: int) -> None:
    raw = json.dumps({"instances": nested(depth - 1)}).encode()
    assert deepest(raw) == depth
    assert json_tensor._too_deep(raw) is (depth > DEPTH)
    if depth > DEPTH:
        with pytest.raises(ServingError, match=f"nesting deeper than {DEPTH} levels"):
            json_tensor.loads(raw)
    else:
        assert json_tensor.loads(raw) == {"instances": nested(depth - 1)}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(alphabet='[]{}"\\,1a', max_size=400).map(str.encode))
def test_any_bytes_agree_with_the_running_depth(raw: bytes) -> None:
    assert json_tensor._too_deep(raw) is (deepest(raw) > DEPTH)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 3 * DEPTH), st.integers(0, 3 * DEPTH), st.sampled_from([b"[", b"{"]))
def test_unbalanced_brackets_agree_with_the_running_depth(opens: int, closes: int, kind) -> None:
    raw = kind * opens + b"1" + b"]" * closes
    assert json_tensor._too_deep(raw) is (deepest(raw) > DEPTH)
