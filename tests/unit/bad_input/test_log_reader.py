"""Bad log streams, as the controller's log follower reads them: lines split anywhere across chunks, lines
of tens of megabytes (read in linear time, never stalling the controller), and event lines over the
reader's limit (counted as unreadable, the other events kept)."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubeasset.controller.run_logs import MAX_LINE_BYTES, LineSplitter
from tests.unit.controller.test_run_logs import follow_once

EVENT = '@@kubeasset@@ {"v":1,"type":"AssetStarted","time":"2024-05-01T02:00:01Z","run":"r-1","key":"orders"}'

SPLIT_ROWS = {
    "one chunk, two lines and a rest": ([b"a\nb\nc"], 5, [(b"a", False), (b"b", False)], (b"c", False)),
    "a line across three chunks": ([b"ab", b"cd", b"e\n"], 5, [(b"abcde", False)], None),
    "empty lines kept": ([b"\n\n"], 5, [(b"", False), (b"", False)], None),
    "a line over the limit is cut": ([b"abc", b"defgh\nxy"], 4, [(b"abcd", True)], (b"xy", False)),
    "a rest over the limit is cut": ([b"abcdefg"], 3, [], (b"abc", True)),
    "the cut does not leak into the next line": ([b"abcdef\n", b"g\n"], 2, [(b"ab", True), (b"g", False)], None),
}


@pytest.mark.parametrize("row", SPLIT_ROWS.values(), ids=SPLIT_ROWS.keys())
def test_log_lines_are_split_across_chunks_and_cut_to_the_limit(
    row: tuple[list[bytes], int, list[tuple[bytes, bool]], tuple[bytes, bool] | None],
) -> None:
    chunks, limit, lines, rest = row
    splitter = LineSplitter(limit)

    found = [line for chunk in chunks for line in splitter.feed(chunk)]

    assert found == lines
    assert splitter.rest() == rest


def test_a_line_of_12_mb_in_small_chunks_is_split_in_linear_time() -> None:
    # Joining and re-splitting the whole pending line per chunk took minutes for this (3,000 chunks).
    splitter = LineSplitter()
    chunk = b"x" * 4096
    started = time.perf_counter()
    for _ in range(3000):
        assert splitter.feed(chunk) == []
    lines = splitter.feed(b"\n" + EVENT.encode() + b"\n")
    elapsed = time.perf_counter() - started

    assert [len(line) for line, _ in lines] == [3000 * 4096, len(EVENT)]
    assert elapsed < 5.0


def test_an_event_line_over_the_limit_is_unreadable_and_the_others_are_kept() -> None:
    log = "\n".join(["x" * (MAX_LINE_BYTES + 10), EVENT, "@@kubeasset@@ " + "y" * (MAX_LINE_BYTES + 10), EVENT])

    logs, _, _ = asyncio.run(follow_once(log))

    snapshot = logs.snapshot("pod-uid")
    assert snapshot is not None and snapshot.settled
    assert (len(snapshot.events), snapshot.unreadable_lines) == (2, 1)
