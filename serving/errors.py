"""Errors of the serving side, with the HTTP status TF Serving would answer."""


class ServingError(Exception):
    """A request or a model repository problem; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
