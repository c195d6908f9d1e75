"""Config files and ``--set`` overrides (``kerasforge.pipelines.config.files``): syntax, numbers,
and files and YAML that used to end in a traceback or a 36 MB message.
"""

from __future__ import annotations

import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import DEFAULT_CONFIG
from tests.pipelines.config_helpers import ALIAS_BOMB, one_line


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("train.epochs", r"expected KEY=VALUE"),
        ("=3", r"expected KEY=VALUE"),
        ("seed.value=3", r"seed holds a value \(42\), not a section"),
    ],
)
def test_bad_set_syntax(item, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(DEFAULT_CONFIG, [item])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"must hold a mapping.*got a list"):
        load_config(scalar)


def test_exponent_numbers_are_numbers():
    """``1e-3`` and ``2e3`` are floats, as in YAML 1.2 and JSON (YAML 1.1 made them strings)."""
    cfg = load_config(DEFAULT_CONFIG, ["train.learning_rate=1e-3", "model.options.dense_units=2e1"])
    assert cfg.train.learning_rate == 0.001
    assert cfg.model.options["dense_units"] == 20 and isinstance(
        cfg.model.options["dense_units"], int
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
            r"config file '.*bad\.yaml' is not UTF-8 text \(byte 0x89 at offset 0\); "
            r"a config must be UTF-8 YAML text",
        ),
        ("train: {epochs: 3}".encode("utf-16"), r"is not UTF-8 text \(byte 0xff at offset 0\)"),
        (b"train:\x00 {epochs: 3}\n", r"is not YAML text \(character #x0000 at position 6"),
        (ALIAS_BOMB.encode(), r"anchors and aliases expand to more than 100,000 values"),
        (b"model: {options: &x {filters: [*x]}}\n", r"an alias refers to a value that contains it"),
        (
            b"train: " + b"[" * 50_000 + b"]" * 50_000,
            r"not valid YAML: nesting deeper than 64 levels",
        ),
        (b"# comment\n" * 200_000, r"has 2,000,000 bytes; a config is a small YAML file"),
        (b"train: [unclosed\n", r"not valid YAML: expected ',' or '\]', but got '<stream end>'"),
    ],
    ids=["binary", "utf16", "control", "alias-bomb", "alias-cycle", "deep", "huge", "unclosed"],
)
def test_bad_files_give_one_short_line(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    one_line(info)


def test_the_alias_bomb_is_small():
    assert len(ALIAS_BOMB) < 400


def test_small_aliases_still_work(tmp_path):
    path = tmp_path / "aliases.yaml"
    path.write_text("x-widths: &widths [8, 16]\nmodel: {options: {filters: *widths}}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'x-widths'"):
        load_config(path)  # aliases are fine; the unused anchor's key is not
    path.write_text("model: {options: {filters: &w [8, 16], dense_units: 16}}\n")
    assert load_config(path).model.options["filters"] == (8, 16)


def test_alias_bomb_in_an_override_is_refused():
    levels = ["&a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"&{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip("abcde", "bcdef", strict=True)]
    with pytest.raises(
        ConfigError, match=r"--set 'model\.options\.filters=.*expand to more"
    ) as info:
        load_config(DEFAULT_CONFIG, [f"model.options.filters=[{', '.join(levels)}]"])
    one_line(info)


def test_config_folder_is_not_a_file(tmp_path):
    with pytest.raises(ConfigError, match=r"is not a file; pass a YAML file") as info:
        load_config(tmp_path)
    one_line(info)
