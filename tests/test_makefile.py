"""The Makefile's front door: `make help` fits its column, the stack targets explain themselves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path} if path else None
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def test_make_help_gives_every_target_its_own_column():
    proc = make("help")
    assert proc.returncode == 0, proc.stderr
    rows = [ANSI.sub("", line) for line in proc.stdout.splitlines() if "\x1b[36m" in line]
    names = [row.split()[0] for row in rows]
    assert "transfer-comparison" in names, "the longest target name is listed"
    # Every description starts in the same column, after its name and at least two spaces.
    starts = {len(row) - len(row[2:].split(maxsplit=1)[1]) for row in rows}
    assert len(starts) == 1, f"descriptions start at columns {sorted(starts)}"
    assert min(len(row) - len(row.lstrip()) for row in rows) == 2
    assert starts.pop() >= 2 + max(map(len, names)) + 2
    # awk prints the Makefile's text: a variable there would show as "$(HOST)", not its value.
    assert not [row for row in rows if "$(" in row], "a description shows an unexpanded variable"


def test_stack_down_without_the_compose_plugin_explains_itself(tmp_path):
    # A Docker engine without the compose plugin: `docker info` works, and every
    # `docker compose ...` ends as the plain CLI does ("unknown flag: --file").
    docker = tmp_path / "docker"
    docker.write_text(
        '#!/bin/sh\n[ "$1" = info ] && exit 0\necho "unknown flag: --file" >&2\nexit 125\n'
    )
    docker.chmod(0o755)
    path = f"{tmp_path}{os.pathsep}{os.environ['PATH']}"
    proc = make("stack-down", path=path)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "stack-down: the Docker Compose plugin is missing" in output
    assert "unknown flag" not in output
    # stack-up runs the same preflight (one definition, not a copy).
    makefile = (ROOT / "Makefile").read_text()
    recipes = re.findall(r"^(stack-up|stack-down):.*\n\t\$\(stack_preflight\)$", makefile, re.M)
    assert sorted(recipes) == ["stack-down", "stack-up"]


def test_the_readme_s_target_list_names_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):.*## ", makefile, re.MULTILINE)) - {"help"}
    readme = (ROOT / "README.md").read_text()
    listed = re.search(r"^- \*\*All targets\*\*: `make help` —(.*?)^- ", readme, re.M | re.S)
    assert listed, "README.md's 'All targets' entry"
    assert set(re.findall(r"`([a-z][\w-]*)`", listed.group(1))) == targets


def test_example_data_runs_under_the_quiet_switch():
    # It imports TensorFlow (the TFRecord file), whose C++ start-up lines it printed.
    proc = make("-n", "example-data")
    assert proc.returncode == 0, proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if "example_data" in line]
    assert "-m kerasforge.cli.quiet " in line, line
