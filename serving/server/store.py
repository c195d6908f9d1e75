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
so the policy falls back to the next version and what is served stays served
(:mod:`.load_failures` keeps those failures and says when each is tried again).

Two ways to say what is served. Repository mode (``ModelStore(root)``): every
``<root>/<name>/`` with a version is a model, under ``policies[name]``, else the
policy and labels of its entry in ``<root>/models.config`` (what a release
wrote: only the gated ``stable`` and ``canary`` versions), else
``default_policy``. Config mode (:meth:`ModelStore.configure`, TF Serving's
``--model_config_file``, ``--model_name``/``--model_base_path`` and
HandleReloadConfigRequest): exactly the listed :class:`ModelEntry` models, each
with its base path, policy (``Latest``, ``All``, ``Specific``) and version
labels. A new config is applied whole or not at all: its versions are loaded
first, then each label must name a version it serves loaded (TF Serving's
rule; ``allow_unavailable_labels`` relaxes it for labels that are new or
unchanged, as ``--allow_version_labels_for_unavailable_models``), and only then
are models, versions and labels swapped in together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from .. import repository
from ..errors import ServingError
from ..export.tf_serving_config import released_entries
from .load_failures import LoadFailures, fingerprint
from .loaded import LoadedModel, load_version, signature_defs
from .model_config import Latest, ModelEntry, VersionPolicy
from .session_model import DEFAULT_TAGS
from .tf_serving_metrics import record_load
from .warmup import WarmupOptions, warm_up

__all__ = ["Latest", "LoadedModel", "ModelStore", "VersionPolicy", "signature_defs"]

log = logging.getLogger(__name__)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


class ModelStore:
    """The models being served, refreshed from disk on demand or by a poll thread.

    Args:
        repository_root: model repository root (``<root>/<name>/<version>/``);
            ``None`` serves only what :meth:`configure` lists.
        policies: version policy per model name (repository mode).
        default_policy: policy of the models not in ``policies``; ``Latest(1)`` if unset.
        allow_unavailable_labels: TF Serving's
            ``--allow_version_labels_for_unavailable_models``.
        warmup: replay each version's warm-up records before it serves (TF Serving's
            ``--enable_model_warmup``, on by default); a failing replay fails the load.
        saved_model_tags: the MetaGraphDef to load, a comma-separated tag set (TF
            Serving's ``--saved_model_tags``, default ``"serve"``).

    Example:
        >>> store = ModelStore("artifacts/models", policies={"digits_cnn": Latest(2)})
        >>> newly_loaded = store.refresh()
        >>> store.get("digits_cnn").version  # the highest loaded version
    """

    def __init__(
        self,
        repository_root: str | Path | None = None,
        policies: Mapping[str, VersionPolicy] | None = None,
        default_policy: VersionPolicy | None = None,
        allow_unavailable_labels: bool = False,
        warmup: WarmupOptions | None = None,
        saved_model_tags: str = DEFAULT_TAGS,
        retries: tuple[int, float] = (5, 60.0),
    ) -> None:
        self.root = Path(repository_root) if repository_root is not None else None
        self.policies = dict(policies or {})
        self.default_policy = default_policy or Latest()
        self.allow_unavailable_labels = allow_unavailable_labels
        self.warmup = warmup or WarmupOptions()
        self.saved_model_tags = saved_model_tags
        # Model folders whose stale ``.staging-*`` folders were removed (once, on first sight).
        self._cleaned: set[Path] = set()
        # Config mode: the configured models by name (None: every model under ``root``).
        self._entries: dict[str, ModelEntry] | None = None
        # Each model's version dict is replaced whole, never mutated, so a reader may keep it.
        self._models: dict[str, dict[int, LoadedModel]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        # Repository mode: the entries of ``<root>/models.config``, read at each refresh.
        self._released: dict[str, ModelEntry] = {}
        # TF Serving's --max_num_load_retries and --load_retry_interval_micros (in seconds).
        self._failures = LoadFailures(*retries)
        self._lock = threading.Lock()  # guards _models and _labels; never held while loading
        self._refresh_lock = threading.Lock()  # one refresh or configure at a time
        self._stop = threading.Event()

    def entry(self, name: str) -> ModelEntry:
        """Model ``name``'s base path, policy and labels (repository mode: under ``root``)."""
        if self._entries is not None:
            found = self._entries.get(name)
            if found is not None:
                return found
        base = (self.root or Path()) / name
        released = self._released.get(name)
        if released is not None and name not in self.policies:
            return ModelEntry(name, base, released.policy, dict(released.labels))
        return ModelEntry(name, base, self.policies.get(name, self.default_policy))

    def policy(self, name: str) -> VersionPolicy:
        """The version policy of model ``name``."""
        return self.entry(name).policy

    def model_names(self) -> list[str]:
        """The models to serve: the configured ones, else those published under ``root``."""
        if self._entries is not None:
            return sorted(self._entries)
        return repository.model_names(self.root) if self.root is not None else []

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
            if self._entries is None and self.root is not None:
                self._released = released_entries(self.root)
            for name in self.model_names():
                try:
                    loaded.extend(self._refresh_model(self.entry(name)))
                except Exception:  # one unreadable model must not stop the others
                    log.exception("refreshing model %s failed; trying again next poll", name)
        return loaded

    def configure(self, entries: list[ModelEntry]) -> list[LoadedModel]:
        """Serve exactly ``entries`` from now on (a whole config, applied whole or not at all).

        Returns:
            The versions newly loaded.

        Raises:
            ServingError: a label names a version the new config does not serve loaded
                (HTTP 412, gRPC FAILED_PRECONDITION, TF Serving's message); nothing changes.
        """
        with self._refresh_lock:
            plans = {e.name: self._load_wanted(e, self._current(e)) for e in entries}
            with self._lock:
                old_labels = dict(self._labels)
            for e in entries:
                for label, version in sorted(e.labels.items()):
                    kept = old_labels.get(e.name, {}).get(label, version) == version
                    if version not in plans[e.name][0] and not (
                        self.allow_unavailable_labels and kept
                    ):
                        raise ServingError(
                            f"Request to assign label to version {version} of model {e.name}, "
                            "which is not currently available for inference",
                            status=412,
                        )
            with self._lock:
                self._entries = {e.name: e for e in entries}
                self._models = {name: plan[0] for name, plan in plans.items() if plan[0]}
                self._labels = {e.name: dict(e.labels) for e in entries if e.labels}
        for e in entries:
            if not plans[e.name][0]:
                log.warning(
                    "No versions of servable %s found under base path %s", e.name, e.base_path
                )
        return [model for plan in plans.values() for model in plan[1]]

    def _current(self, entry: ModelEntry) -> dict[int, LoadedModel]:
        """What ``entry``'s model serves now, if loaded from its base path."""
        with self._lock:
            current = self._models.get(entry.name, {})
        return {v: m for v, m in current.items() if m.path.parent == entry.base_path}

    def _refresh_model(self, entry: ModelEntry) -> list[LoadedModel]:
        current = self._current(entry)
        serving, new = self._load_wanted(entry, current)
        if self._entries is None:  # repository mode: the release's labels of loaded versions
            with self._lock:
                self._labels[entry.name] = {k: v for k, v in entry.labels.items() if v in serving}
        if not serving or (not new and serving.keys() == current.keys()):
            return []
        with self._lock:
            self._models[entry.name] = serving
        for model in new:
            log.info("serving %s version %d from %s", entry.name, model.version, model.path)
        for version in sorted(current.keys() - serving.keys()):
            log.info("unloaded %s version %d", entry.name, version)
        return new

    def _load_wanted(
        self, entry: ModelEntry, current: dict[int, LoadedModel]
    ) -> tuple[dict[int, LoadedModel], list[LoadedModel]]:
        """The version dict to serve (newest first) and the versions loaded for it.

        Each round loads or marks broken every version it finds missing, so the
        policy is asked again only after a failure, and the loop ends within as
        many rounds as there are versions on disk.
        """
        name = entry.name
        self._clean_once(entry.base_path)
        on_disk = repository.version_dirs(entry.base_path)
        fresh: dict[int, LoadedModel] = {}
        while True:
            broken = self._failures.still_broken
            available = [v for v, path in on_disk.items() if not broken(name, path)]
            wanted = set(entry.policy.select(available)) & set(available)
            missing = sorted(wanted - current.keys() - fresh.keys(), reverse=True)
            if not missing:
                break
            for version in missing:
                model = self._try_load(name, version, on_disk[version])
                if model is not None:
                    fresh[version] = model
        serving = {
            v: current[v] if v in current else fresh[v] for v in sorted(wanted, reverse=True)
        }
        return serving, [fresh[v] for v in serving if v in fresh]

    def _clean_once(self, model_dir: Path) -> None:
        """Remove the ``.staging-*`` folders a killed publish left in ``model_dir``, once
        they are older than the grace period, the first time the store reads it."""
        if model_dir not in self._cleaned:
            self._cleaned.add(model_dir)
            repository.clean_stale_staging(model_dir)

    def _try_load(self, name: str, version: int, path: Path) -> LoadedModel | None:
        files, tries = fingerprint(path), self._failures.next_try(name, path)
        model, start = None, time.perf_counter()
        try:
            model = load_version(name, version, path, self.saved_model_tags)
            record_load(str(path), True, time.perf_counter() - start)
            warm_up(model, self.warmup)
        except Exception as exc:  # a broken version must not take the server down
            if model is None:
                record_load(str(path), False, 0.0)
            log.error(
                "could not load %s version %d (try %d of %d; retried when its files change): %s",
                name,
                version,
                tries,
                self._failures.max_retries + 1,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            self._failures.failed(name, path, files, tries)
            return None
        self._failures.loaded(name, path)
        return model

    def label_version(self, name: str, label: str) -> int:
        """The version ``label`` names for model ``name``.

        Raises:
            ServingError: no such label (HTTP 400, TF Serving's message).
        """
        with self._lock:
            version = self._labels.get(name, {}).get(label)
        if version is None:
            raise ServingError(f"Unrecognized servable version label: {label}")
        return version

    def get(self, name: str, version: int | None = None, label: str | None = None) -> LoadedModel:
        """The loaded model ``name`` at ``version`` or ``label``, else at its highest version.

        Raises:
            ServingError: an unknown label (HTTP 400), or the model or that version is
                not loaded (HTTP 404, TF Serving's ``Servable not found for request: ...``).
        """
        if label is not None:
            version = self.label_version(name, label)
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
                        "polling %s failed; trying again in %ss",
                        self.root or "models",
                        every_seconds,
                    )

        thread = threading.Thread(target=loop, name="repository-poll", daemon=True)
        thread.start()
        return thread

    def watch_config(self, path: Path, every_seconds: float) -> threading.Thread:
        """Re-read the model config file ``path`` every ``every_seconds``; apply it when changed.

        TF Serving's ``--model_config_file_poll_wait_seconds``: a file that does not
        parse or a config that cannot be applied is logged, the current one kept,
        and the file tried again at the next poll.
        """
        from .model_config import read_config

        applied = [_read_text(path)]

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                current = _read_text(path)
                if current == applied[0]:
                    continue
                try:
                    self.configure(read_config(path))
                except ServingError as exc:
                    log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", exc)
                    continue
                except Exception:  # a bug must not end the polling for good
                    log.exception("reloading %s failed; trying again in %ss", path, every_seconds)
                    continue
                applied[0] = current
                log.info("applied the model config in %s", path)

        thread = threading.Thread(target=loop, name="config-poll", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop the poll thread (after its current refresh)."""
        self._stop.set()
