"""The cluster this process trains in, from the ``TF_CONFIG`` environment variable.

Read by :mod:`kerasforge.pipelines.training.strategy` (which strategy to build) and
:mod:`kerasforge.pipelines.training.multiworker` (what each worker writes); it imports neither.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ConfigError


def tf_config() -> dict[str, Any]:
    """The ``TF_CONFIG`` environment variable as a dict (empty when unset)."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(f"TF_CONFIG must be JSON; received {raw[:80]!r}") from None
    return value if isinstance(value, dict) else {}


def is_chief() -> bool:
    """Whether this process writes shared outputs (worker 0, or the only process)."""
    task = tf_config().get("task", {})
    return task.get("type", "worker") in ("worker", "chief") and (
        task.get("type") == "chief" or int(task.get("index", 0)) == 0
    )
