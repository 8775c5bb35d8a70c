"""A code location whose assets print what a run Pod's log should never hold but may: a fake event line
that is not JSON, bytes that are not UTF-8, a 2 MB line, an event for a key with path characters, an event
for an asset not in the run, and megabytes of metadata. The run itself succeeds: the controller must say
what it could not read, keep every result, and end the run."""

from __future__ import annotations

import sys

from kubeasset import Definitions, MaterializeResult, MetadataValue, asset

PREFIX = "@@kubeasset@@ "
TIME = "2025-01-01T00:00:00Z"


@asset
def noisy() -> int:
    print(PREFIX + "{this is not json", flush=True)
    sys.stdout.buffer.write(b"\xff\xfe not utf-8 \x00 \xc3\x28 bytes\n")
    sys.stdout.buffer.flush()
    print("x" * 2_000_000, flush=True)
    print(PREFIX + '{"v":1,"type":"AssetStarted","run":"r","time":"' + TIME + '","key":"../etc"}', flush=True)
    print(PREFIX + '{"v":1,"type":"AssetStarted","run":"r","time":"' + TIME + '","key":"not_in_run"}', flush=True)
    return 1


@asset
def heavy(noisy: int) -> MaterializeResult:
    # 300 entries of 10 KB: a 3 MB event line (each entry is under the runner's per-entry cap).
    metadata = {f"column_{n}": MetadataValue.text("y" * 10_000) for n in range(300)}
    metadata["rows"] = MetadataValue.int(noisy)
    return MaterializeResult(value=noisy + 1, metadata=metadata)


@asset
def last(heavy: int) -> int:
    print("progress without a newline", end="", flush=True)
    return heavy + 1


defs = Definitions(assets=[noisy, heavy, last])
