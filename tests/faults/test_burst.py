"""A burst of 500 runs created while the controller is down: once it is back, every run succeeds, never more
than the job's maxConcurrentRuns Pods exist at once, and each run has exactly one Pod.

A watch records every run Pod ever created (what polling would miss: a second Pod that lived briefly, an
eleventh one alive for a moment) and every status of every run.

Time: the 500 runs take about 6 minutes on a 2-core machine once every waiting run is no longer rewritten
each time the queue moves (before that fix, under 0.7 runs/s: the test fails on its 450 s limit). CI can
run a smaller burst with KUBEASSET_FAULT_BURST.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.support import FaultRecorder, FaultSite, asset_states, fault_job, phase, wait_until
from tests.integration.controller.run_failure_helpers import regressions

NODE = "kubeasset-faults-burst"
#: 500 in the issue; KUBEASSET_FAULT_BURST sets another size (see the module's note on time).
BURST = int(os.environ.get("KUBEASSET_FAULT_BURST", "500"))
LIMIT = 10


@pytest.mark.timeout(620)
def test_a_burst_created_while_the_controller_is_down_runs_within_the_concurrency_limit(fault_site: FaultSite) -> None:
    namespace, controller = fault_site.namespace, fault_site.controller
    fault_site.deploy("burst", fault_job("burst", "burst", "tick", max_concurrent_runs=LIMIT))
    controller.kill()

    with FaultRecorder(fault_site.api_client, namespace) as recorder:
        names = [f"burst-{number:03d}" for number in range(BURST)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda name: fault_site.create_run(name, "burst"), names))
        assert recorder.pods_by_name() == {}, "a Pod was created while no controller ran"

        controller.restart()
        started = time.monotonic()

        def all_final() -> bool:
            runs = fault_site.runs()
            return len(runs) == BURST and all(phase(run) in ("Succeeded", "Failed") for run in runs.values())

        wait_until(all_final, lambda: f"all {BURST} runs final; phases now: {fault_site.phase_counts()}", 450, poll=2.0)
        took = time.monotonic() - started
        time.sleep(1.0)  # let the recorder see anything a confused controller might still write

    runs = fault_site.runs()
    print(f"{BURST} runs, at most {LIMIT} at once, all final {took:.0f}s after the controller started")
    assert {name: phase(run) for name, run in runs.items() if phase(run) != "Succeeded"} == {}
    assert all(asset_states(run) == {"tick": "Materialized"} for run in runs.values())
    pods = recorder.pods_by_name()
    assert {name for name, uids in pods.items() if len(uids) != 1} == set(), "a run had two Pods"
    assert set(pods) == set(names)
    assert 1 <= recorder.max_alive.get("burst", 0) <= LIMIT, recorder.max_alive
    assert [(name, found) for name in names if (found := regressions(recorder.statuses(name)))] == []
