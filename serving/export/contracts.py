"""The serving contract of a model card's task, from the task itself.

Each task declares its contract in ``pipelines/tasks/<task>/contract.py`` (signatures, main
output, parity score, edge answer, sidecar facts); this is how export finds it by the card's
``task``, so ``kerasforge export`` republishes a checkpoint without training code. An unknown
task is one line, never a fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...pipelines.tasks import Contract, UnknownTask, contract
from ..errors import ServingError

if TYPE_CHECKING:
    from ..card import ModelCard
    from .signatures import Endpoint


def contract_for(task: str) -> Contract:
    """The contract of ``task``.

    Raises:
        ServingError: no such task (the message lists the known ones).
    """
    try:
        return contract(task)
    except UnknownTask as exc:
        raise ServingError(f"no serving contract: {exc}") from None


def endpoints(card: ModelCard, model: Any) -> dict[str, Endpoint]:
    """The signatures ``card.task`` exports for ``model``.

    Raises:
        ServingError: the card's task is unknown.
    """
    return contract_for(card.task).endpoints(model, card)
