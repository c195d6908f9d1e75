"""Render docker/k8s/train/ for N workers and one experiment config, as one YAML stream.

    python docker/k8s/train/render.py --workers 4 --config configs/digits_cnn.yaml \\
        [--image registry.example/kerasforge-train:0.1.0] [--set train.epochs=20 ...] \\
        > train.yaml && kubectl apply -f train.yaml

(``make k8s-train-manifests WORKERS=4 CONFIG=...`` does the same into
``artifacts/k8s/train.yaml``.) N goes into the Job's ``completions`` and
``parallelism`` and into every pod's ``KERASFORGE_WORKERS``. A config path under
``configs/`` names the copy baked into the trainer image (``/opt/kerasforge/``).
Needs PyYAML only.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
FILES = ("pvc.yaml", "service.yaml", "job.yaml")
IMAGE_ROOT = "/opt/kerasforge"  # WORKDIR of docker/train/Dockerfile's installed sources
MAX_WORKERS = 1000


def render(
    workers: int, config: str, image: str | None = None, overrides: tuple[str, ...] = ()
) -> list[dict]:
    """The claim, the headless Service and the Indexed Job for ``workers`` workers.

    Args:
        workers: how many worker pods (the Job's completions and parallelism).
        config: the experiment YAML, relative to the repository (baked into the image)
            or an absolute path inside the container.
        image: the trainer image; default the one in job.yaml (this release's tag).
        overrides: extra ``KEY=VALUE`` config overrides.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"--workers must be between 1 and {MAX_WORKERS}; received {workers}")
    objects = [yaml.safe_load((HERE / name).read_text()) for name in FILES]
    job = copy.deepcopy(objects[-1])
    job["spec"]["completions"] = job["spec"]["parallelism"] = workers
    (trainer,) = job["spec"]["template"]["spec"]["containers"]
    if image:
        trainer["image"] = image
    path = config if config.startswith("/") else f"{IMAGE_ROOT}/{config}"
    args = trainer["args"]
    trainer["args"] = ["--config", path, *args[2:], *overrides]
    for var in trainer["env"]:
        if var["name"] == "KERASFORGE_WORKERS":
            var["value"] = str(workers)
    return [*objects[:-1], job]


def main(argv: list[str] | None = None) -> int:
    """Print the rendered manifests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True, metavar="N")
    parser.add_argument("--config", default="configs/digits_cnn.yaml")
    parser.add_argument("--image", default=None)
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides")
    args = parser.parse_args(argv)
    try:
        objects = render(args.workers, args.config, args.image, tuple(args.overrides))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
