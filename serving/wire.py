"""TF Serving's names on the wire, each defined once (as TF Serving's ``json_tensor.cc`` does).

REST bodies (``api_rest.md``): a predict request holds ``instances`` (row format)
or ``inputs`` (columnar), and optionally ``signature_name``; its answer holds
``predictions`` or ``outputs``; a binary string value is ``{"b64": "..."}``.
Signature method names (``signature_constants``) say which API serves a signature.
"""

from __future__ import annotations

INSTANCES = "instances"
INPUTS = "inputs"
PREDICTIONS = "predictions"
OUTPUTS = "outputs"
SIGNATURE_NAME = "signature_name"
B64 = "b64"

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
