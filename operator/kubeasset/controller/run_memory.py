"""What the controller remembers between two reconciles of an AssetRun, beyond the informer cache: whether it
has seen the run's Pod, which catalog updates it already wrote, and the objects it wrote whose new version
the cache may not show yet.

Why the last one: a running run's status is written every fraction of a second (live progress). The
cache learns of each write through the watch a moment later; a reconcile in that moment would decide on
the previous version and its resourceVersion-guarded write would fail (a retry, a log line, a delay). So
the controller keeps what the API server answered to its own write, and uses it while the cache still
shows the version that write was based on. Everything here is an optimisation or a hint: after a
restart it is empty and the reconciles are still correct (the planner gets the same answers from the
status and the Pod).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

#: The most written objects remembered at once (old entries are dropped first; they are only hints).
MAX_WRITTEN: Final = 20_000


@dataclass
class RunMemory:
    """Per AssetRun (by namespace and name; reset when the uid changes)."""

    uid: str | None
    pod_seen: bool = False
    """A Pod of this run was observed (so a missing Pod later was deleted)."""
    catalog_written: set[tuple[str, str, str]] = field(default_factory=set)
    """Catalog updates already applied: (asset key, "materialization" | "failure", time)."""


class WrittenObjects:
    """Objects as the API server returned them after the controller's own writes, used while the cache still
    shows the version each write was based on.

    Example::

        written = WrittenObjects()
        written.remember("AssetRun", "shop", "daily-1", based_on="41", obj=patched)
        run = written.current("AssetRun", "shop", "daily-1", cached_version="41") or cached_run
    """

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str, str], tuple[str | None, dict[str, Any]]] = {}

    def remember(self, kind: str, namespace: str, name: str, *, based_on: str | None, obj: dict[str, Any]) -> None:
        key = (kind, namespace, name)
        self._objects.pop(key, None)
        if len(self._objects) >= MAX_WRITTEN:
            del self._objects[next(iter(self._objects))]
        self._objects[key] = (based_on, obj)

    def current(self, kind: str, namespace: str, name: str, *, cached_version: str | None) -> dict[str, Any] | None:
        """The written object if the cache still shows the version it was based on; else None (and forget
        it: the cache has caught up, or someone else wrote since)."""
        key = (kind, namespace, name)
        entry = self._objects.get(key)
        if entry is None:
            return None
        based_on, obj = entry
        if based_on is not None and based_on == cached_version:
            return obj
        del self._objects[key]
        return None

    def forget(self, kind: str, namespace: str, name: str) -> None:
        self._objects.pop((kind, namespace, name), None)

    def wrote(self, kind: str, namespace: str, name: str, *, version: str | None) -> bool:
        """Whether ``version`` of the object is the one the controller's last write of it made: its own
        change coming back through the watch, which tells its reconcile nothing new."""
        entry = self._objects.get((kind, namespace, name))
        if entry is None or version is None:
            return False
        return bool((entry[1].get("metadata") or {}).get("resourceVersion") == version)
