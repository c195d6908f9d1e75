"""`ruff check` and `ruff format --check` are part of the suite, so CI enforces them."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT, dev_tool


def ruff() -> str:
    return dev_tool("ruff")


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args):
    proc = subprocess.run([ruff(), *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
