"""Each data finding reaches the user once (``kerasforge.pipelines.data.validate``)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

# As `kerasforge train` shows findings (pipelines/training/inputs.py, load_splits) and
# errors (cli/main.py), in a fresh interpreter: no test harness's logging handlers.
SHOW = """
import numpy as np
from kerasforge.pipelines.data.types import DataInfo, Dataset
from kerasforge.pipelines.data.validate import validate
from kerasforge.pipelines.errors import DataError

info = DataInfo("t", "tabular", "classes", ("a", "b", "c"))
skewed = Dataset(np.ones((45, 2), "float32"), np.array([0] * 40 + [1] * 4 + [2]), info)
for finding in validate(skewed):
    print(f"data {finding.level}: {finding.message}", flush=True)
x = np.ones((30, 2), "float32")
x[3, 1] = np.nan
try:
    validate(Dataset(x, np.array([0, 1, 2] * 10), info))
except DataError as exc:
    print(f"error: {exc}")
"""


def test_a_warning_and_an_error_are_each_printed_once():
    proc = subprocess.run(
        [sys.executable, "-c", SHOW], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    both = proc.stdout + proc.stderr
    assert both.count("classes are imbalanced (40 vs 1") == 1, both
    assert both.count("1 examples hold NaN or Inf") == 1, both
