"""One running container: a local process group started through the sandbox, its stdout and stderr
written to a CRI log file as they arrive, and stopping it the runtime's way (SIGTERM to every process,
SIGKILL after the grace period; the container ends when its first process does)."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeasset.cluster.kubelet import cri_log
from kubeasset.cluster.kubelet.volumes import Mount

SANDBOX = Path(__file__).with_name("sandbox.py")
#: After the first process exits, output still buffered in the pipes gets this long to arrive.
_DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class TerminationFile:
    """Expose ``host_file`` at ``path`` inside the container (needs a private mount namespace)."""

    path: str
    host_file: Path
    scratch: Path


class ContainerProcess:
    """Start with ``ContainerProcess(...)`` from the thread that will call pump() until finished.

    >>> process = ContainerProcess(["echo", "hi"], {}, Path("/tmp"), Path("/tmp/0.log"), None)  # doctest: +SKIP
    >>> while not process.finished: process.pump(0.5)  # doctest: +SKIP
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        workdir: Path,
        log_file: Path,
        termination: TerminationFile | None,
        mounts: Sequence[Mount] = (),
        hostname: str | None = None,
    ) -> None:
        sandbox = [sys.executable, "-I", "-S", str(SANDBOX), "--workdir", str(workdir)]
        sandbox += ["--parent-pid", str(os.getpid())]
        if termination is not None:
            sandbox += ["--termination-path", termination.path, "--termination-file", str(termination.host_file)]
            sandbox += ["--scratch", str(termination.scratch)]
            # volumes need the private mount namespace that only comes with a TerminationFile
            for mount in mounts:
                sandbox += ["--mount", mount.argument()]
            for path in interpreter_paths():
                sandbox += ["--keep", path]
            if hostname:
                sandbox += ["--hostname", hostname]
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_file.open("ab")
        try:
            self._process = subprocess.Popen(
                [*sandbox, "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group: stopping the container stops its children
            )
        except OSError:
            self._log.close()
            raise
        self.pid = self._process.pid
        self._selector = selectors.DefaultSelector()
        assert self._process.stdout is not None and self._process.stderr is not None
        self._pipes = {"stdout": self._process.stdout, "stderr": self._process.stderr}
        for stream, pipe in self._pipes.items():
            os.set_blocking(pipe.fileno(), False)
            self._selector.register(pipe, selectors.EVENT_READ, stream)
        self._rest = {"stdout": b"", "stderr": b""}
        self._kill_at: float | None = None
        self._exited_at: float | None = None
        self._log_lock = threading.Lock()
        self.finished = False

    def pump(self, timeout: float) -> None:
        """Move output to the log for up to ``timeout`` seconds and advance the process's life cycle."""
        if self.finished:
            time.sleep(timeout)
            return
        if self._selector.get_map():
            for key, _ in self._selector.select(timeout):
                self._read(key.fileobj, key.data)
        else:
            time.sleep(timeout)
        now = time.monotonic()
        if self._kill_at is not None and now >= self._kill_at:
            self._signal(signal.SIGKILL)
        if self._exited_at is None and self._process.poll() is not None:
            self._exited_at = now
            # the container ends with its first process: whatever it left running goes too
            self._signal(signal.SIGKILL)
        if self._exited_at is not None and (not self._selector.get_map() or now - self._exited_at > _DRAIN_SECONDS):
            self._finish()

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM now, SIGKILL once ``grace_seconds`` have passed (pump() sends it)."""
        if self._exited_at is not None:
            return
        deadline = time.monotonic() + max(grace_seconds, 0.0)
        if self._kill_at is None:
            self._signal(signal.SIGTERM if grace_seconds > 0 else signal.SIGKILL)
            self._kill_at = deadline
        else:
            self._kill_at = min(self._kill_at, deadline)

    def kill_now(self) -> None:
        """SIGKILL the process group (the kubelet is going away and cannot wait)."""
        self._signal(signal.SIGKILL)

    @property
    def exit_code(self) -> int:
        """The code a container runtime reports: 128 + signal number for a signalled process."""
        code = self._process.returncode
        assert code is not None, "the process has not exited"
        return 128 - code if code < 0 else code

    def _read(self, pipe: Any, stream: str) -> None:  # a pipe or its descriptor
        fileno = pipe if isinstance(pipe, int) else pipe.fileno()
        try:
            data = os.read(fileno, 65536)
        except BlockingIOError:
            return
        if not data:
            self._selector.unregister(pipe)
            self._write(cri_log.final_records(stream, self._rest[stream]))
            self._rest[stream] = b""
            return
        lines, self._rest[stream] = cri_log.split_records(stream, self._rest[stream] + data)
        self._write(lines)

    def _write(self, lines: list[bytes]) -> None:
        if lines:
            with self._log_lock:
                self._log.write(b"".join(lines))
                self._log.flush()

    def _signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already empty
            os.killpg(self.pid, signum)

    def _finish(self) -> None:
        for stream, rest in self._rest.items():
            self._write(cri_log.final_records(stream, rest))
        for key in list(self._selector.get_map().values()):
            self._selector.unregister(key.fileobj)
        self._selector.close()
        for pipe in self._pipes.values():
            pipe.close()
        self._log.close()
        self.finished = True


def interpreter_paths() -> list[str]:
    """The host folders the container's Python and kubeasset live in (the interpreter, its prefixes, the
    import path): the local kubelet runs no image, so a volume mounted over one of them (an emptyDir at /tmp
    while the checkout is under /tmp) must not hide them."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    candidates.update(path for path in sys.path if path and os.path.isdir(path))
    return sorted(os.path.realpath(path) for path in candidates)


def sandbox_available() -> bool:
    """Whether this machine lets the kubelet make private mount namespaces (root, or the capability)."""
    try:
        probe = subprocess.run(
            [sys.executable, "-I", "-S", str(SANDBOX), "--probe", "--workdir", "/"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0
