"""The versions that failed to load, and when each may be tried again.

A version folder that fails to load (``ModelStore._try_load``) is remembered with
its files' fingerprint (every file's size and modification time), how many times it
has failed and when it last did. It is left out of what the version policy sees
until its files change (a version copied in non-atomically, with ``cp -r``,
completes later: a fresh start) or, files unchanged, until ``retry_interval_s``
has passed, up to ``max_retries`` retries: TF Serving's ``--max_num_load_retries``
and ``--load_retry_interval_micros``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def fingerprint(path: Path) -> tuple[Any, ...]:
    """Every file under ``path`` with its size and modification time (cheap change check)."""
    try:
        return tuple(
            sorted(
                (str(p.relative_to(path)), st.st_size, st.st_mtime_ns)
                for p in path.rglob("*")
                for st in [p.stat()]
            )
        )
    except OSError:  # files moving under us: a value that never matches, so it is retried
        return (object(),)


class LoadFailures:
    """Failed version folders by ``(model name, path)``: fingerprint, tries, last failure.

    Args:
        max_retries: retries after the first failure while the files stay unchanged.
        retry_interval_s: seconds between two tries of unchanged files.
    """

    def __init__(self, max_retries: int, retry_interval_s: float) -> None:
        self.max_retries = max_retries
        self.retry_interval_s = retry_interval_s
        self._failed: dict[tuple[str, Path], tuple[tuple[Any, ...], int, float]] = {}

    def next_try(self, name: str, path: Path) -> int:
        """The number of the coming try of ``path`` (1 for a version never failed)."""
        return self._failed.get((name, path), ((), 0, 0.0))[1] + 1

    def still_broken(self, name: str, path: Path) -> bool:
        """True for a version folder that failed to load, whose files have not changed, and
        whose retries are spent or not due yet."""
        failure = self._failed.get((name, path))
        if failure is None:
            return False
        seen, tries, when = failure
        if seen != fingerprint(path):
            del self._failed[(name, path)]  # its files changed: a fresh start
            return False
        return tries > self.max_retries or time.monotonic() - when < self.retry_interval_s

    def failed(self, name: str, path: Path, files: tuple[Any, ...], tries: int) -> None:
        """Record try number ``tries`` of ``path`` (whose files were ``files``) as failed."""
        self._failed[(name, path)] = (files, tries, time.monotonic())

    def loaded(self, name: str, path: Path) -> None:
        """Forget the failures of ``path``: it loaded."""
        self._failed.pop((name, path), None)
