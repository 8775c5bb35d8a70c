"""Assets that fail in the ways a run Pod can fail, for tests/integration/controller/test_run_failures.py: the
controller runs this module in real run Pods on the tests' local kubelet (the CodeLocation's workingDirectory
is this folder), so each failure is the runner's and the kubelet's own, not a mock's.

What an asset does is set per job through its Pod's env (the job's ``pod.env``), read when the asset runs:

* ``FAILURE_TEST_SLEEP_SECONDS``: how long ``slow`` and ``quick`` sleep (default 30 and 2);
* ``FAILURE_TEST_MARKER``: the file ``flaky`` looks for: missing, it creates it and raises; present, it
  succeeds (so a run fails and its retry succeeds).

Groups (one job per scenario): ``slow`` (before_slow -> slow -> after_slow), ``crash`` (before_crash ->
crash, which ends the process with ``os._exit(3)`` -> after_crash), ``flaky`` (upstream -> flaky ->
downstream), ``quick`` (quick).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from kubeasset import Definitions, asset


def _seconds(default: float) -> float:
    return float(os.environ.get("FAILURE_TEST_SLEEP_SECONDS", default))


@asset(group_name="slow")
def before_slow() -> int:
    return 1


@asset(group_name="slow")
def slow(before_slow: int) -> int:
    time.sleep(_seconds(30))
    return before_slow + 1


@asset(group_name="slow")
def after_slow(slow: int) -> int:
    return slow + 1


@asset(group_name="crash")
def before_crash() -> int:
    return 1


@asset(group_name="crash")
def crash(before_crash: int) -> int:
    # Ends the runner's process at once: no AssetFailed event, no summary, exit code 3.
    os._exit(3)


@asset(group_name="crash")
def after_crash(crash: int) -> int:
    return crash + 1


@asset(group_name="flaky")
def upstream() -> int:
    return 41


@asset(group_name="flaky")
def flaky(upstream: int) -> int:
    marker = Path(os.environ["FAILURE_TEST_MARKER"])
    if not marker.exists():
        marker.write_text("failed once\n", encoding="utf-8")
        raise RuntimeError(f"flaky failure: {marker} did not exist (it does now)")
    return upstream + 1


@asset(group_name="flaky")
def downstream(flaky: int) -> int:
    return flaky * 2


@asset(group_name="quick")
def quick() -> str:
    time.sleep(_seconds(2))
    return "done"


defs = Definitions(
    assets=[before_slow, slow, after_slow, before_crash, crash, after_crash, upstream, flaky, downstream, quick]
)
