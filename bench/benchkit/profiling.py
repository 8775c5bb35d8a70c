"""Sampling profiles of the controller process with py-spy while a benchmark loads it, summarised as the
frames that take the most samples (own time, and time including callees), for reports of missed targets."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from types import TracebackType


class PySpyRecord:
    """``py-spy record`` of ``pid`` into ``output`` (collapsed stacks) for the duration of the ``with``;
    ``idle`` also samples threads that wait (where the event loop sleeps on I/O).

    Example::

        with PySpyRecord(controller.pid, folder / "controller.folded"):
            generate_load()
        print_top_frames(folder / "controller.folded")
    """

    def __init__(self, pid: int, output: Path, *, rate: int = 50, idle: bool = False) -> None:
        program = shutil.which("py-spy")
        if program is None:
            raise RuntimeError("py-spy is not installed: pip install -e '.[dev]'")
        self.argv = [
            program,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ]
        if idle:
            self.argv.append("--idle")
        self.output = output
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpyRecord:
        self._process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()


def top_frames(folded: Path, limit: int = 15) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, frames by own samples, frames by inclusive samples) from a collapsed-stack file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames[1:]):  # the first frame is the thread
            inclusive[frame] += count
    return total, own.most_common(limit), inclusive.most_common(limit)


def print_top_frames(folded: Path, limit: int = 15) -> None:
    if not folded.exists():
        print(f"   (no profile written to {folded})")
        return
    total, own, inclusive = top_frames(folded, limit)
    print(f"   py-spy profile of the controller: {total} samples, written to {folded}")
    print("   top frames by own samples:")
    for frame, count in own:
        print(f"     {100 * count / max(total, 1):5.1f}%  {frame}")
    print("   top frames including callees:")
    for frame, count in inclusive:
        print(f"     {100 * count / max(total, 1):5.1f}%  {frame}")
