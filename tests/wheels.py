"""Fresh virtual environments with one extra of the built wheel, for the packaging tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, dev_tool


def run(cmd: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; fail the test with its output unless it exits 0."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def copy_source(copy: Path) -> Path:
    """A copy of the files git would commit (no build/, no .venv), to build from."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


def build_wheel(source: Path, out: Path) -> Path:
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)])
    (built,) = out.glob("kerasforge-*.whl")
    return built


def uv() -> str:
    return dev_tool("uv")


def fresh_venv(wheel: Path, extra: str, where: Path) -> tuple[Path, set[str]]:
    """A new virtual environment with only ``kerasforge[extra]`` from ``wheel``.

    Returns:
        Its ``bin`` folder and the distributions installed in it (lower case).
    """
    python = where / "bin" / "python"
    run([uv(), "venv", "-q", "--python", sys.executable, str(where)])
    run([uv(), "pip", "install", "-q", "--python", str(python), f"{wheel}[{extra}]"], timeout=1200)
    listed = run([uv(), "pip", "list", "--format", "json", "--python", str(python)])
    return where / "bin", {p["name"].lower() for p in json.loads(listed.stdout)}


def in_venv(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``cmd`` from a fresh venv, away from this checkout and this environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def tflite_runtime_venv(wheel: Path, where: Path) -> Path:
    """A Raspberry Pi-like environment: kerasforge's base (numpy<2, pydantic) and tflite-runtime.

    tflite-runtime 2.14 (the last release, Python 3.11) is built against NumPy 1.x.
    """
    python = where / "bin" / "python"
    run([uv(), "venv", "-q", "--python", sys.executable, str(where)])
    pins = ["numpy>=1.26,<2", "pydantic>=2.7,<3", "tflite-runtime==2.14.*"]
    run([uv(), "pip", "install", "-q", "--python", str(python), *pins], timeout=1200)
    run([uv(), "pip", "install", "-q", "--python", str(python), "--no-deps", str(wheel)])
    return where / "bin"
