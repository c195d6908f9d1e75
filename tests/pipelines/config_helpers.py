"""What the config tests share: the one-short-line check on errors and a YAML alias bomb."""

from __future__ import annotations

from itertools import pairwise

import pytest

from kerasforge.pipelines.errors import ConfigError

SHORT = 500  # characters: the most one error line may take, whatever was received

# The "billion laughs" of the issue (330 bytes, plus the line that puts it in the config):
# nine levels of nine aliases, 387 million strings once expanded.
ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in pairwise("abcdefghi")),
        "model: {options: {dense_units: *i}}",
    ]
)


def one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    """The error's message, checked to be one short line."""
    message = str(exc.value)
    assert message.count("\n") == 0, message[:2000]
    assert len(message) < SHORT, message[:2000]
    return message
