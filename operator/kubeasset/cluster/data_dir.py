"""The folder a long-lived local cluster (`kubeasset cluster start`) lives in, and who owns it right now.

A start may follow a crash (the CLI or its children killed with SIGKILL, a closed laptop), so the folder
records the owner's pid and the control-plane programs' pids; the next start or `kubeasset cluster stop`
uses that to tell a running cluster (its owner still holds the folder's lock) from leftovers, which it ends.
Certificates are issued afresh at each start; etcd's data stays, so objects survive a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kubeasset.errors import ClusterError

#: Held (flock) by the running `kubeasset cluster start`; holds its pid as text.
_LOCK_FILE = "cluster.lock"
#: The programs' pids. On Linux they die with their owner (parent-death signal); elsewhere, or when a
#: program was reparented, they outlive a crashed owner, and this file is how the next start finds them.
_PID_FILE = "cluster-pids.json"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/kubeasset/cluster``, else ``~/.local/share/kubeasset/cluster``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "kubeasset" / "cluster"


@dataclass(frozen=True)
class StaleProcess:
    """A control-plane program left running by an earlier owner that is gone."""

    name: str
    pid: int


class ClusterDataDir:
    """One cluster's folder: an exclusive claim while a cluster runs from it, and the pids of its programs.

    >>> data = ClusterDataDir(default_data_dir())  # doctest: +SKIP
    >>> with data.claim() as stale:  # ends leftovers of a crashed start, raises if a cluster runs here
    ...     data.record_processes({"etcd": 4242})
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder.expanduser().resolve()
        self._lock_path = self.folder / _LOCK_FILE
        self._pid_path = self.folder / _PID_FILE

    @contextlib.contextmanager
    def claim(self) -> Iterator[list[StaleProcess]]:
        """Hold the folder for this process; yields the leftovers of a crashed owner that were ended.

        ClusterError if another live process holds it (a cluster is running from this folder).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        # The kernel drops an flock when its holder dies, however it dies: no stale lock after kill -9.
        with self._lock_path.open("a+") as handle:
            if not _try_lock(handle):
                owner = self.owner_pid()
                raise ClusterError(
                    f"a cluster is already running from {self.folder}"
                    + (f" (kubeasset pid {owner})" if owner else "")
                    + f"; stop it with `kubeasset cluster stop --data-dir {self.folder}` or choose another "
                    "--data-dir"
                )
            try:
                ended = self.end_stale_processes()
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
                yield ended
            finally:
                self._pid_path.unlink(missing_ok=True)
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def record_processes(self, pids: Mapping[str, int]) -> None:
        """Remember the running programs' pids (each is its own process group) for a later cleanup."""
        temporary = self._pid_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"owner": os.getpid(), "processes": dict(pids)}, indent=2) + "\n")
        temporary.replace(self._pid_path)  # atomic: a crash never leaves half a file

    def owner_pid(self) -> int | None:
        """The pid of the process that holds (or last held) the folder, if recorded."""
        try:
            text = self._lock_path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def is_running(self) -> bool:
        """Whether a live process holds the folder (a cluster is starting or running from it)."""
        if not self._lock_path.exists():
            return False
        with self._lock_path.open("a+") as handle:
            if _try_lock(handle):
                fcntl.flock(handle, fcntl.LOCK_UN)
                return False
            return True

    def end_stale_processes(self, grace_seconds: float = 10.0) -> list[StaleProcess]:
        """End the recorded programs that still run although their owner is gone; returns them.

        A recorded pid counts only if that process still names this folder in its command line, so a pid
        the system has since given to an unrelated program is left alone.
        """
        stale = [
            StaleProcess(name, pid)
            for name, pid in self._recorded_processes().items()
            if self.folder_in_command_line(pid)
        ]
        for process in stale:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while any(_alive(process.pid) for process in stale) and time.monotonic() < deadline:
            time.sleep(0.1)
        for process in stale:
            if _alive(process.pid):
                _signal_group(process.pid, signal.SIGKILL)
        self._pid_path.unlink(missing_ok=True)
        return stale

    def stop(self, timeout: float = 60.0) -> str:
        """Stop the cluster running from this folder (ask its owner to shut down); returns what was done.

        Without a live owner, only leftovers are ended. ClusterError if the owner does not finish in time.
        """
        if not self.is_running():
            ended = self.end_stale_processes() if self.folder.exists() else []
            if ended:
                return "no cluster was running; ended leftovers: " + ", ".join(
                    f"{process.name} (pid {process.pid})" for process in ended
                )
            return f"no cluster is running from {self.folder}"
        owner = self.owner_pid()
        if owner is None:
            raise ClusterError(f"a process holds {self._lock_path} but did not record its pid; stop it by hand")
        # The owner's SIGTERM handler stops the programs in order, as Ctrl-C does.
        with contextlib.suppress(ProcessLookupError):
            os.kill(owner, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.is_running():
            if time.monotonic() > deadline:
                raise ClusterError(f"kubeasset (pid {owner}) did not stop its cluster within {timeout:.0f}s")
            time.sleep(0.1)
        return f"stopped the cluster in {self.folder} (kubeasset pid {owner})"

    def folder_in_command_line(self, pid: int) -> bool:
        """Whether process ``pid`` runs and its arguments mention this folder (Linux /proc; else False)."""
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        folder = os.fsencode(self.folder)
        return any(folder in argument for argument in arguments)

    def _recorded_processes(self) -> dict[str, int]:
        try:
            recorded = json.loads(self._pid_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        processes = recorded.get("processes", {}) if isinstance(recorded, dict) else {}
        return {str(name): int(pid) for name, pid in processes.items() if isinstance(pid, int) and pid > 1}


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _alive(pid: int) -> bool:
    # Not our children, so never zombies of ours: once gone, /proc/<pid> disappears (init reaps them).
    try:
        status = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def _signal_group(pid: int, signum: signal.Signals) -> None:
    # Each control-plane program leads its own process group (start_new_session), so the group holds
    # anything it spawned as well.
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        # Not a group leader after all (or the group is gone): signal the process alone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
