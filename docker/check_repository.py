"""Check that a model repository holds every version a models.config serves.

TF Serving started on a models.config whose versions are missing waits for
them and never becomes healthy; this says so before the stack starts:

    python docker/check_repository.py --config docker/serving/models.config \
        --repository artifacts/models

``base_path`` values are container paths under ``--mount-target`` (``/models``,
where compose and Kubernetes mount the repository); each maps to
``<repository>/<name>``. Exit status 0 when every version is present, 1 with
one line per missing version otherwise, 2 when the config does not parse.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath


def missing_versions(
    config_path: Path, repository: Path, mount_target: str = "/models"
) -> list[str]:
    """Versions that ``config_path`` serves (specific policy) but ``repository`` lacks.

    Args:
        config_path: A TF Serving ModelServerConfig in text format.
        repository: The host folder mounted at ``mount_target``.
        mount_target: Where the repository is mounted in the serving container.

    Returns:
        One human-readable line per missing model folder or version.

    Raises:
        ValueError: The config does not parse, or a base_path lies outside the mount.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

    try:
        config = text_format.Parse(config_path.read_text(), ModelServerConfig())
    except text_format.ParseError as err:
        raise ValueError(f"{config_path}: not a TF Serving ModelServerConfig: {err}") from err
    problems = []
    for model in config.model_config_list.config:
        base = PurePosixPath(model.base_path)
        if not base.is_relative_to(mount_target):
            raise ValueError(f"{model.name}: base_path {base} is outside {mount_target}")
        folder = repository / base.relative_to(mount_target)
        if not folder.is_dir():
            problems.append(f"{model.name}: no folder {folder} (run `make train`)")
            continue
        for version in model.model_version_policy.specific.versions:
            if not (folder / str(version) / "saved_model.pb").is_file():
                problems.append(f"{model.name}: version {version} missing from {folder}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("docker/serving/models.config"))
    parser.add_argument("--repository", type=Path, default=Path("artifacts/models"))
    parser.add_argument("--mount-target", default="/models")
    args = parser.parse_args(argv)
    try:
        problems = missing_versions(args.config, args.repository, args.mount_target)
    except (OSError, ValueError) as err:
        print(f"check_repository: {err}", file=sys.stderr)
        return 2
    for line in problems:
        print(f"check_repository: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
