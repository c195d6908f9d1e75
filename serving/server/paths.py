"""Which folders a model's base path may name when it comes over the network.

A ``HandleReloadConfigRequest`` names base paths that the server then loads, and
loading a SavedModel runs its graph (a ``tf.io.write_file`` op in it writes a file).
So a base path received over gRPC must lie under one of the roots the operator
configured at start-up (the repository, or the base paths of the start-up config),
after symlinks and ``..`` are resolved on both sides.

Inside an accepted base path, version folders that are symlinks are followed and
served wherever they point, as TF Serving does: whoever can create a link in the
repository already chooses what is served, and links are how some deployments swap
versions atomically. The check guards what a *client* names, not what the
repository's owner placed there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def resolved(path: str | Path) -> Path:
    """``path`` made absolute with every symlink and ``..`` resolved (missing parts kept)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def is_within(path: str | Path, roots: Iterable[str | Path]) -> bool:
    """Whether ``path``, resolved, is one of ``roots`` (resolved) or lies below one."""
    target = resolved(path)
    return any(target == root or root in target.parents for root in map(resolved, roots))


def outside(paths: Iterable[str | Path], roots: Iterable[str | Path]) -> list[str]:
    """The members of ``paths`` that do not lie under any of ``roots`` (see :func:`is_within`)."""
    roots = [resolved(r) for r in roots]
    return [str(p) for p in paths if not is_within(p, roots)]
