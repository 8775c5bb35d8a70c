"""Write the files of a configMap, secret, downwardAPI or projected volume the way the kubelet's
AtomicWriter does, so that a running container sees each update whole or not at all.

The volume folder holds a timestamped data folder (``..2026_11_25_01_02_03.123456789``) with the real
files, a ``..data`` symlink to it, and for each top-level entry a symlink ``name -> ..data/name``. An update
writes a new data folder, swaps ``..data`` with one rename(2), then removes the old folder. The volume
folder itself is never replaced, which matters here: it is bind-mounted into the container, and a
replaced folder would leave the container looking at the old one.

    >>> write_atomically(Path("/k/pod-volumes/u/token"), {"token": (b"ey...", None)}, 0o644)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from kubeasset.errors import ContainerConfigError

DATA_LINK = "..data"
_NEW_DATA_LINK = "..data_tmp"

#: relative path -> (content, mode or None for the volume's defaultMode)
Files = Mapping[str, tuple[bytes, int | None]]


def write_atomically(folder: Path, files: Files, default_mode: int) -> bool:
    """Make ``folder`` show exactly ``files``; False when it already did (nothing written)."""
    for relative in files:
        parts = PurePosixPath(relative).parts
        if not parts or parts[0].startswith("..") or PurePosixPath(relative).is_absolute() or ".." in parts:
            raise ContainerConfigError(f"volume file path {relative!r} must be relative and must not start with '..'")
    folder.mkdir(parents=True, exist_ok=True)
    current = folder / DATA_LINK
    if current.is_symlink() and _same(folder / os.readlink(current), files, default_mode):
        return False
    old_data = os.readlink(current) if current.is_symlink() else None
    # The kubelet's naming: the time of the write, so a listing shows the order of updates.
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{time.time_ns() % 1_000_000_000:09d}"
    data = folder / f"..{stamp}"
    data.mkdir()
    for relative, (content, mode) in files.items():
        path = data / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode if mode is not None else default_mode)
    new_link = folder / _NEW_DATA_LINK
    new_link.unlink(missing_ok=True)
    new_link.symlink_to(data.name)
    os.replace(new_link, current)
    tops = {PurePosixPath(relative).parts[0] for relative in files}
    for top in tops:
        link = folder / top
        if not link.is_symlink():
            if link.is_dir():
                shutil.rmtree(link)
            elif link.exists():
                link.unlink()
            link.symlink_to(f"{DATA_LINK}/{top}")
    for entry in folder.iterdir():
        # user-visible links of files that are gone, and what an older writer (plain files) left
        if not entry.name.startswith("..") and entry.name not in tops:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    if old_data is not None and old_data != data.name:
        shutil.rmtree(folder / old_data, ignore_errors=True)
    return True


def _same(data: Path, files: Files, default_mode: int) -> bool:
    written = {
        str(path.relative_to(data)): path for path in data.rglob("*") if path.is_file() and not path.is_symlink()
    }
    if set(written) != set(files):
        return False
    for relative, (content, mode) in files.items():
        path = written[relative]
        wanted = mode if mode is not None else default_mode
        if path.read_bytes() != content or (path.stat().st_mode & 0o7777) != wanted:
            return False
    return True
