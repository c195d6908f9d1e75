"""Load the latest version of every model in a TF Serving repository.

Like TF Serving's default version policy, each model serves its highest
version; a background poll picks up newly published versions and unloads the
previous one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerasforge.serving import repository
from kerasforge.serving.errors import ServingError

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """One loaded SavedModel version and its signatures."""

    name: str
    version: int
    path: Path
    signatures: dict[str, Any] = field(repr=False)
    # Signatures hold only weak references to the loaded object's variables: keep it alive.
    owner: Any = field(default=None, repr=False)

    def signature(self, name: str | None) -> Any:
        name = name or "serving_default"
        if name not in self.signatures:
            raise ServingError(
                f'Serving signature name: "{name}" not found in signature def; '
                f"available: {', '.join(sorted(self.signatures))}"
            )
        return self.signatures[name]


def load_version(name: str, version: int, path: Path) -> LoadedModel:
    """Load one SavedModel version directory."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return LoadedModel(name, version, path, dict(loaded.signatures), owner=loaded)


class ModelStore:
    """The models being served, refreshed from the repository on demand or by a poll thread."""

    def __init__(self, repository_root: str | Path) -> None:
        self.root = Path(repository_root)
        self._models: dict[str, LoadedModel] = {}
        self._broken: set[tuple[str, int]] = set()  # versions that failed to load: not retried
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def refresh(self) -> list[LoadedModel]:
        """Serve the newest loadable version of each model; return what was newly loaded.

        A version that fails to load is logged, remembered (not retried every
        poll) and skipped: the previous version keeps serving.
        """
        loaded = []
        for name in repository.model_names(self.root):
            current = self._models.get(name)
            model = self._load_newest(name, current.version if current else 0)
            if model is None:
                continue
            with self._lock:
                self._models[name] = model
            loaded.append(model)
            log.info("serving %s version %d from %s", name, model.version, model.path)
        return loaded

    def _load_newest(self, name: str, newer_than: int) -> LoadedModel | None:
        for version in reversed(repository.versions(self.root / name)):
            if version <= newer_than:
                return None
            if (name, version) in self._broken:
                continue
            try:
                return load_version(name, version, self.root / name / str(version))
            except Exception as exc:  # a broken version must not take the server down
                log.error("could not load %s version %d, skipping it: %s", name, version, exc)
                self._broken.add((name, version))
        return None

    def get(self, name: str, version: int | None = None) -> LoadedModel:
        """The served model ``name`` (at ``version`` when given)."""
        with self._lock:
            model = self._models.get(name)
        if model is None:
            raise ServingError(f"Servable not found for request: Latest({name})", status=404)
        if version is not None and version != model.version:
            raise ServingError(
                f"Servable not found for request: Specific({name}, {version}); "
                f"version {model.version} is served",
                status=404,
            )
        return model

    def models(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._models.values())

    def start_polling(self, every_seconds: float) -> threading.Thread:
        """Refresh every ``every_seconds`` in a daemon thread until ``stop``."""

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.refresh()

        thread = threading.Thread(target=loop, name="repository-poll", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
