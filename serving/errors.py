"""Errors of the serving side, with the HTTP status TF Serving would answer."""

import re


class ServingError(Exception):
    """A request or a model repository problem; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def tf_error_message(message: str) -> str:
    """The op's own line of a TensorFlow error (``Key: x ... Data types don't match ...``).

    A function-call error starts ``Graph execution error:``. From the default executor a
    traceback of where the op was defined follows, and the op's message is the line before
    its ``[[{{node ...}}]]`` marker; from the single-threaded executor the op's message is
    the last line, ending ``[Op:<function>]``.
    """
    lines = message.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("[[") and i and lines[i - 1].strip():
            return lines[i - 1].strip()
    rest = [line.strip() for line in lines[1:] if line.strip()]
    if lines and lines[0].strip() == "Graph execution error:" and rest:
        return re.sub(r"\s*\[Op:[^\]]*\]$", "", rest[-1])
    return lines[0] if lines else message
