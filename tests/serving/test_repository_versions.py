"""Version folder names read as TF Serving reads them, and stale staging folders removed."""

from __future__ import annotations

import logging
import os
import time

import pytest

from kerasforge.serving import repository


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("1", 1),
        ("00000123", 123),  # testdata/saved_model_half_plus_three/00000123 is version 123
        ("+7", 7),  # absl::SimpleAtoi takes a sign
        (" 8\t", 8),  # and surrounding ASCII whitespace
        ("9223372036854775807", (1 << 63) - 1),
        ("9223372036854775808", None),  # past int64: SimpleAtoi fails, the folder is skipped
        ("-1", None),  # an int64, but no version: ignored
        ("1.0", None),
        ("v1", None),
        ("", None),
        ("²", None),
        (".staging-1", None),
    ],
)
def test_folder_names_parse_as_tf_serving_parses_them(name, version):
    # sources/storage_path/file_system_storage_path_source.cc ParseVersionNumber (SimpleAtoi);
    # IndexChildrenByVersion skips names that do not parse
    assert repository.parse_version(name) == version


def _version(path):
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"")
    return path


def test_two_folders_of_one_version_load_one_and_say_so(tmp_path, caplog):
    # file_system_storage_path_source.cc IndexChildrenByVersion: "Duplicate version
    # directories detected", one folder kept per version
    for name in ("0123", "123", "00000123", "5", "notes"):
        _version(tmp_path / name)
    with caplog.at_level(logging.WARNING, logger="kerasforge.serving.repository"):
        found = repository.version_dirs(tmp_path)
    assert found == {5: tmp_path / "5", 123: tmp_path / "123"}
    assert "Duplicate version directories detected. Version 123" in caplog.text
    assert repository.versions(tmp_path) == [5, 123]


def test_a_padded_folder_alone_is_loaded_from_its_own_name(tmp_path):
    _version(tmp_path / "00000123")
    assert repository.version_dirs(tmp_path) == {123: tmp_path / "00000123"}


def test_the_store_removes_stale_staging_folders_on_its_first_look(tmp_path):
    from kerasforge.serving.server.store import ModelStore

    model = tmp_path / "m"
    stale, fresh = model / ".staging-old", model / ".staging-new"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
    old = time.time() - repository.STALE_STAGING_SECONDS - 60
    os.utime(stale, (old, old))
    _version(model / "1")  # an empty saved_model.pb: the load fails, the cleaning does not
    ModelStore(tmp_path).refresh()
    assert not stale.exists() and fresh.exists()
