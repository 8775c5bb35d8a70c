"""The runner's two channels to the controller: event lines on stdout and the termination message."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from kubeasset.sdk.events import ExecutionEvent
from kubeasset.sdk.runner_protocol import format_event_line


class LineTrackingStdout:
    """Stands in for ``sys.stdout`` and remembers whether the last text written ended a line.

    User code shares stdout with the event lines: when it printed text without a final newline, the
    next event line must start on a new line, or a reader would not find its prefix at line start.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.at_line_start = True

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if text:
            self.at_line_start = text.endswith("\n")
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class EventWriter:
    """Writes each event as one line on stdout and flushes, so the controller sees it at once."""

    def __init__(self, stdout: LineTrackingStdout) -> None:
        self._stdout = stdout

    def __call__(self, event: ExecutionEvent) -> None:
        line = format_event_line(event)
        # One write call per line: Python's stream lock keeps it whole against other threads' prints.
        self._stdout.write(("" if self._stdout.at_line_start else "\n") + line + "\n")
        self._stdout.flush()


def write_termination_message(path: str | None, text: str) -> None:
    """Write the summary where Kubernetes reads it; a failure to do so is reported, never fatal."""
    if path is None:
        return
    try:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        print(f"kubeasset runner: cannot write the termination message to {path}: {error}", file=sys.stderr)
