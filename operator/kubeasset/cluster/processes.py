"""Child processes of the local control plane that never outlive their owner.

Each program runs in its own process group (so stopping it also stops anything it spawned) and, on Linux,
with a parent-death signal, so even a test runner killed with SIGKILL leaves no etcd or apiserver behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

#: prctl option number from <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1


class ManagedProcess:
    """One long-running program whose output goes to a log file.

    >>> etcd = ManagedProcess("etcd", ["etcd"], Path("/tmp/etcd.log"))  # doctest: +SKIP
    >>> etcd.stop()  # doctest: +SKIP
    """

    def __init__(self, name: str, argv: list[str], log_file: Path, *, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    @property
    def pid(self) -> int:
        """The program's process id, which is also its process group id."""
        return self._process.pid

    def exit_code(self) -> int | None:
        """None while the program runs, its exit code once it has stopped."""
        return self._process.poll()

    def stop(self, grace_seconds: float = 15.0) -> int:
        """SIGTERM the process group, SIGKILL it after ``grace_seconds``; returns the exit code."""
        if self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                return self._process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                return self._process.wait()
        # The leader is gone, but a child it started may still hold the group; make sure it is empty.
        self._signal_group(signal.SIGKILL)
        return self._process.returncode

    def kill(self) -> int:
        """SIGKILL the process group at once (a crash, not a shutdown); returns the exit code."""
        self._signal_group(signal.SIGKILL)
        return self._process.wait()

    def log_tail(self, lines: int = 25) -> str:
        """The last lines the program logged, for error messages."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone: nothing left to stop
            os.killpg(self._process.pid, signum)


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGKILL it when the parent dies."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
