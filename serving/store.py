"""The loaded versions of every model in a TF Serving repository, chosen by a version policy.

The store keeps ``name -> {version -> LoadedModel}``. A version policy picks
which of a model's versions on disk are served, as TF Serving's
``model_version_policy`` does; ``Latest(1)``, TF Serving's default, is the
default here. A request without a version gets the highest loaded version.

A refresh (on demand, or from the poll thread) loads the versions the policy
wants that are not loaded yet, and only then swaps in the model's new version
dict, dropping the versions no longer wanted: a request already running holds
its own reference to the version it started with and finishes on it. A version
that fails to load is logged, remembered (retried only once its files change,
as a version still being copied in will) and left out of what the policy sees,
so the policy falls back to the next version and what is served stays served.

Policies are per model (``policies={"digits": Latest(2)}``, else
``default_policy``), so TF Serving's ``all`` and ``specific`` policies are one
small class each whose ``select`` returns every available version or the listed
ones. Version labels (TF Serving's ``version_labels``, ``stable -> 3``) fit as a
per-model ``label -> version`` mapping that ``get`` resolves before its version
lookup; a label may only name a version the policy keeps loaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kerasforge.serving import repository
from kerasforge.serving.errors import ServingError

log = logging.getLogger(__name__)


def _fingerprint(path: Path) -> tuple[Any, ...]:
    """Every file under ``path`` with its size and modification time (cheap change check)."""
    try:
        return tuple(
            sorted(
                (str(p.relative_to(path)), st.st_size, st.st_mtime_ns)
                for p in path.rglob("*")
                for st in [p.stat()]
            )
        )
    except OSError:  # files moving under us: a value that never matches, so it is retried
        return (object(),)


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
        """The concrete function of signature ``name`` (``serving_default`` when ``None``).

        Raises:
            ServingError: the SavedModel has no such signature (HTTP 400).
        """
        name = name or "serving_default"
        if name not in self.signatures:
            raise ServingError(
                f'Serving signature name: "{name}" not found in signature def; '
                f"available: {', '.join(sorted(self.signatures))}"
            )
        return self.signatures[name]


def load_version(name: str, version: int, path: Path) -> LoadedModel:
    """Load one SavedModel version directory.

    Args:
        name: the model's name in the repository.
        version: the version number (the directory's name).
        path: the version directory holding ``saved_model.pb``.

    Returns:
        The loaded version with its signatures.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return LoadedModel(name, version, path, dict(loaded.signatures), owner=loaded)


@runtime_checkable
class VersionPolicy(Protocol):
    """Chooses which of a model's versions on disk should be served."""

    def select(self, available: Sequence[int]) -> list[int]:
        """The versions to serve.

        Args:
            available: versions on disk, ascending, without those known not to load.

        Returns:
            A subset of ``available``; versions outside it are ignored.
        """
        ...


@dataclass(frozen=True)
class Latest:
    """Serve the ``n`` highest versions (TF Serving's ``latest { num_versions: n }``)."""

    n: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(
                f"Latest(n) expects a positive number of versions to serve; received {self.n!r}"
            )

    def select(self, available: Sequence[int]) -> list[int]:
        """The ``n`` highest of ``available``."""
        return sorted(available)[-self.n :]


class ModelStore:
    """The models being served, refreshed from the repository on demand or by a poll thread.

    Args:
        repository_root: model repository root (``<root>/<name>/<version>/``).
        policies: version policy per model name.
        default_policy: policy of the models not in ``policies``; ``Latest(1)`` if unset.

    Example:
        >>> store = ModelStore("artifacts/models", policies={"digits_cnn": Latest(2)})
        >>> newly_loaded = store.refresh()
        >>> store.get("digits_cnn").version  # the highest loaded version
    """

    def __init__(
        self,
        repository_root: str | Path,
        policies: Mapping[str, VersionPolicy] | None = None,
        default_policy: VersionPolicy | None = None,
    ) -> None:
        self.root = Path(repository_root)
        self.policies = dict(policies or {})
        self.default_policy = default_policy or Latest()
        # Each model's version dict is replaced whole, never mutated, so a reader may keep it.
        self._models: dict[str, dict[int, LoadedModel]] = {}
        # Versions that failed to load -> their files' fingerprint: retried once the files
        # change (a version copied non-atomically, `cp -r`, completes later), as TF Serving retries.
        self._broken: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._lock = threading.Lock()  # guards _models; never held while loading
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._stop = threading.Event()

    def policy(self, name: str) -> VersionPolicy:
        """The version policy of model ``name``."""
        return self.policies.get(name, self.default_policy)

    def refresh(self) -> list[LoadedModel]:
        """Load the versions each model's policy wants, then unload those it no longer wants.

        A version that fails to load is logged, remembered and skipped: the policy
        is asked again without it, and nothing is unloaded for a version that did
        not load. A model whose versions all fail keeps what it serves.

        Returns:
            The versions newly loaded by this refresh.
        """
        loaded = []
        with self._refresh_lock:
            for name in repository.model_names(self.root):
                try:
                    loaded.extend(self._refresh_model(name))
                except Exception:  # one unreadable model must not stop the others
                    log.exception("refreshing model %s failed; trying again next poll", name)
        return loaded

    def _refresh_model(self, name: str) -> list[LoadedModel]:
        with self._lock:
            current = self._models.get(name, {})
        serving, new = self._load_wanted(name, current)
        if not serving or (not new and serving.keys() == current.keys()):
            return []
        with self._lock:
            self._models[name] = serving
        for model in new:
            log.info("serving %s version %d from %s", name, model.version, model.path)
        for version in sorted(current.keys() - serving.keys()):
            log.info("unloaded %s version %d", name, version)
        return new

    def _load_wanted(
        self, name: str, current: dict[int, LoadedModel]
    ) -> tuple[dict[int, LoadedModel], list[LoadedModel]]:
        """The version dict to serve (newest first) and the versions loaded for it.

        Each round loads or marks broken every version it finds missing, so the
        policy is asked again only after a failure, and the loop ends within as
        many rounds as there are versions on disk.
        """
        on_disk = repository.versions(self.root / name)
        fresh: dict[int, LoadedModel] = {}
        while True:
            available = [v for v in on_disk if not self._still_broken(name, v)]
            wanted = set(self.policy(name).select(available)) & set(available)
            missing = sorted(wanted - current.keys() - fresh.keys(), reverse=True)
            if not missing:
                break
            for version in missing:
                model = self._try_load(name, version)
                if model is not None:
                    fresh[version] = model
        serving = {
            v: current[v] if v in current else fresh[v] for v in sorted(wanted, reverse=True)
        }
        return serving, [fresh[v] for v in serving if v in fresh]

    def _still_broken(self, name: str, version: int) -> bool:
        """True for a version that failed to load and whose files have not changed since."""
        seen = self._broken.get((name, version))
        if seen is None:
            return False
        if seen == _fingerprint(self.root / name / str(version)):
            return True
        del self._broken[(name, version)]  # its files changed: try it again
        return False

    def _try_load(self, name: str, version: int) -> LoadedModel | None:
        path = self.root / name / str(version)
        fingerprint = _fingerprint(path)
        try:
            model = load_version(name, version, path)
        except Exception as exc:  # a broken version must not take the server down
            log.error(
                "could not load %s version %d (retried when its files change): %s",
                name,
                version,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            self._broken[(name, version)] = fingerprint
            return None
        self._broken.pop((name, version), None)
        return model

    def get(self, name: str, version: int | None = None) -> LoadedModel:
        """The loaded model ``name`` at ``version``, else at its highest loaded version.

        Raises:
            ServingError: the model or that version is not loaded (HTTP 404, TF
                Serving's ``Servable not found for request: ...`` message).
        """
        with self._lock:
            versions = self._models.get(name, {})
        if version is None and versions:
            return versions[max(versions)]
        if version in versions:
            return versions[version]
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        hint = f"; loaded versions: {', '.join(map(str, versions))}" if versions else ""
        raise ServingError(f"Servable not found for request: {request}{hint}", status=404)

    def versions(self, name: str) -> dict[int, LoadedModel]:
        """A snapshot of model ``name``'s loaded versions, newest first (empty if none)."""
        with self._lock:
            return dict(self._models.get(name, {}))

    def statuses(self, name: str) -> list[LoadedModel]:
        """Every loaded version of model ``name``, newest first, for the status endpoint.

        Raises:
            ServingError: no version of the model is loaded (HTTP 404).
        """
        versions = self.versions(name)
        if not versions:
            raise ServingError(f"Servable not found for request: Latest({name})", status=404)
        return list(versions.values())

    def models(self) -> list[LoadedModel]:
        """Every loaded version of every model, by name, newest version first."""
        with self._lock:
            snapshot = sorted(self._models.items())
        return [model for _, versions in snapshot for model in versions.values()]

    def start_polling(self, every_seconds: float) -> threading.Thread:
        """Refresh every ``every_seconds`` in a daemon thread until ``stop``.

        A refresh that raises (the repository unreadable for a moment) is logged
        and the next poll runs as usual.
        """

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                try:
                    self.refresh()
                except Exception:
                    log.exception(
                        "polling %s failed; trying again in %ss", self.root, every_seconds
                    )

        thread = threading.Thread(target=loop, name="repository-poll", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop the poll thread (after its current refresh)."""
        self._stop.set()
