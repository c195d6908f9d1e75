"""Repository layout helpers: model names, version names, stale staging folders."""

from __future__ import annotations

import os
import time

import pytest

from kerasforge.serving import repository
from kerasforge.serving.errors import ServingError
from tests.conftest import run_cli


@pytest.mark.parametrize("name", ["digits_cnn", "m", "model-2.1", "A9"])
def test_safe_model_names_are_accepted(name):
    assert repository.check_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../../x", "a/b", "/abs", ".hidden", "a b", "x" * 129]
)
def test_unsafe_model_names_are_refused(name):
    with pytest.raises(ServingError, match="is not allowed"):
        repository.check_model_name(name)


def test_version_names_are_ascii_digits_only():
    assert repository.is_version_name("12")
    assert not repository.is_version_name("²")
    assert not repository.is_version_name("1" * 20)
    assert not repository.is_version_name("-1")


def test_stale_staging_folders_are_cleaned_and_fresh_ones_kept(tmp_path):
    stale, fresh, version = tmp_path / ".staging-old", tmp_path / ".staging-new", tmp_path / "1"
    for folder in (stale, fresh, version):
        folder.mkdir()
    old = time.time() - repository.STALE_STAGING_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(version, (old, old))
    assert repository.clean_stale_staging(tmp_path) == 1
    assert not stale.exists() and fresh.exists() and version.exists()


@pytest.mark.parametrize("name", ["../../x", ""])
def test_export_refuses_a_name_outside_the_repository(tmp_path, name):
    proc = run_cli(
        "export",
        "--checkpoint",
        str(tmp_path / "none.keras"),
        "--name",
        name,
        "--repository",
        str(tmp_path / "repo"),
        timeout=60,
    )
    assert proc.returncode == 2 and "is not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x").exists()
