"""The example data files are generated on demand, the same bytes each time, never tracked."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from kerasforge.pipelines.data.example_data import EXAMPLE_NAMES, ensure_example, is_example
from tests.conftest import ROOT


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.mark.heavy
def test_two_processes_write_the_examples_once_and_whole(tmp_path):
    """As two test workers do on a fresh clone; a third run finds them and writes nothing."""
    folder = tmp_path / "a" / "configs" / "data"
    code = (
        "import sys; from pathlib import Path; "
        "from kerasforge.pipelines.data.example_data import ensure_example; "
        "ensure_example(Path(sys.argv[1])); "
        "assert len(list((Path(sys.argv[1]).parent / 'digits_folder').rglob('*.png'))) == 1797"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(folder / name)], stderr=subprocess.PIPE)
        for name in ("digits_folder", "wine.csv")
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(
        EXAMPLE_NAMES
    )
    assert ensure_example(folder / "wine.csv") is False
    again = tmp_path / "b" / "configs" / "data"
    assert ensure_example(again / "digits.tfrecord") is True
    assert digest(again) == digest(folder), "deterministic, TFRecord included"


def test_only_the_example_names_in_a_configs_data_folder_are_generated(tmp_path):
    assert is_example(Path("configs/data/wine.csv"))
    assert not is_example(tmp_path / "wine.csv")
    assert not is_example(Path("configs/data/mine.csv"))
    assert ensure_example(tmp_path / "data" / "wine.csv") is False
    assert not (tmp_path / "data").exists()


def test_generated_files_are_not_tracked():
    tracked = subprocess.run(
        ["git", "ls-files", "configs/data", "*.db"], cwd=ROOT, capture_output=True, text=True
    )
    assert tracked.returncode == 0 and tracked.stdout == ""
    assert (ROOT / "LICENSE").is_file()
