"""The SavedModel of a publish: the task's signatures, described for the model card.

:func:`write_saved_model` exports the endpoints the task's contract offers
(``serving.export.contracts``), raw inputs in (preprocessing is inside the model),
and returns each signature's description (:func:`describe`) for the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..card import ModelCard, SignatureInfo, TensorInfo
from ..errors import ServingError
from ..wire import PREDICT_METHOD
from .contracts import endpoints
from .signatures import ENCODED_IMAGES, PIXELS_SIGNATURE, Endpoint, write_method_names


def write_saved_model(model: Any, path: str | Path, card: ModelCard) -> dict[str, SignatureInfo]:
    """Export ``model`` as a SavedModel with the signatures of ``card.task``.

    Returns:
        The card's description of each signature (method, named inputs and outputs).
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    described = {}
    found = endpoints(card, model)
    if card.image_input == ENCODED_IMAGES and PIXELS_SIGNATURE not in found:
        raise ServingError(
            f"export.image_input: 'encoded' is not offered by task {card.task!r} (its "
            "serving_default takes the raw input); set export.image_input: pixels"
        )
    for name, endpoint in found.items():
        traced = archive.add_endpoint(
            name=name, fn=endpoint.fn, input_signature=endpoint.input_signature
        )
        described[name] = describe(endpoint, traced.get_concrete_function())
    archive.write_out(str(path), verbose=False)
    methods = {n: e.method_name for n, e in found.items() if e.method_name != PREDICT_METHOD}
    if methods:
        write_method_names(Path(path), methods)
    return described


def describe(endpoint: Endpoint, concrete: Any) -> SignatureInfo:
    """Method, named inputs (with the endpoint's facts) and outputs of one endpoint.

    ``concrete`` is the endpoint as the archive traced it, so nothing is traced twice.
    """
    facts = endpoint.input_facts or ({},) * len(endpoint.input_signature)
    inputs = [
        TensorInfo(name=s.name, dtype=s.dtype.name, shape=s.shape.as_list(), **f)
        for s, f in zip(endpoint.input_signature, facts, strict=True)
    ]
    outputs = [
        TensorInfo(name=k, dtype=t.dtype.name, shape=t.shape.as_list())
        for k, t in sorted(concrete.structured_outputs.items())
    ]
    return SignatureInfo(
        method_name=endpoint.method_name,
        description=endpoint.description,
        inputs=inputs,
        outputs=outputs,
        example_features=list(endpoint.example_features),
    )
