"""The kubeasset cache's one way of storing built programs, shared by every program kubeasset builds with Go
(the control plane, kubectl, helm): a folder per version that is built aside, sealed by a manifest written
last, renamed into place, and guarded by a file lock so parallel processes build once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CACHE_ENV = "KUBEASSET_CACHE_DIR"


def cache_root() -> Path:
    """The kubeasset cache: $KUBEASSET_CACHE_DIR, else $XDG_CACHE_HOME/kubeasset, else ~/.cache/kubeasset."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return (base / "kubeasset").resolve()


def read_manifest(entry: Path, manifest_name: str) -> dict[str, Any] | None:
    """The manifest of a cache entry, or None when the entry is absent, partial or unreadable."""
    try:
        manifest = json.loads((entry / manifest_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def build_entry(entry: Path, manifest_name: str, manifest: Mapping[str, Any], build: Callable[[Path], None]) -> None:
    """Run ``build(staging_folder)``, seal the folder with ``manifest`` and move it to ``entry``.

    The staging folder sits next to ``entry`` and is renamed into place only when complete, so an
    interrupted build never looks like a cache hit; a failed build leaves nothing behind (Go's own caches
    keep what was downloaded and compiled).
    """
    staging = entry.with_name(f"{entry.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        build(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / manifest_name).write_text(json.dumps(dict(manifest), indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise builds of one entry across processes (parallel test workers, two terminals)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_executable(path: Path) -> bool:
    """A regular file this process may run."""
    return path.is_file() and os.access(path, os.X_OK)
