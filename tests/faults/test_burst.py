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
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.faults.support import (
    ControllerProcess,
    FaultRecorder,
    KubeletProcess,
    asset_states,
    delete_node,
    fault_job,
    fault_location,
    list_runs,
    phase,
    run_manifest,
    running,
    wait_until,
)
from tests.integration.controller.conftest import create, wait_for_condition
from tests.integration.controller.run_failure_helpers import regressions

NODE = "kubeasset-faults-burst"
#: 500 in the issue; KUBEASSET_FAULT_BURST sets another size (see the module's note on time).
BURST = int(os.environ.get("KUBEASSET_FAULT_BURST", "500"))
LIMIT = 10


@pytest.mark.timeout(620)
def test_a_burst_created_while_the_controller_is_down_runs_within_the_concurrency_limit(
    api_client: client.ApiClient,
    kubeconfig: Path,
    crds: list[dict[str, Any]],
    namespace: str,
    tmp_path: Path,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    controller = ControllerProcess(kubeconfig, namespace, tmp_path / "controller.log")
    try:
        with (
            running(KubeletProcess(kubeconfig, tmp_path / "kubelet", NODE, tmp_path / "kubelet.log"), "kubelet"),
            running(controller, "controller"),
        ):
            create(custom, namespace, fault_location("burst", NODE, tmp_path / "storage"))
            create(custom, namespace, fault_job("burst", "burst", "tick", max_concurrent_runs=LIMIT))
            wait_for_condition(custom, namespace, "assetjobs", "burst", "True", timeout=90)
            controller.kill()

            with FaultRecorder(api_client, namespace) as recorder:
                names = [f"burst-{number:03d}" for number in range(BURST)]
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda name: create(custom, namespace, run_manifest(name, "burst")), names))
                assert recorder.pods_by_name() == {}, "a Pod was created while no controller ran"

                controller.restart()
                started = time.monotonic()

                def all_final() -> bool:
                    runs = list_runs(custom, namespace)
                    return len(runs) == BURST and all(phase(run) in ("Succeeded", "Failed") for run in runs.values())

                wait_until(all_final, lambda: _summary(custom, namespace), 450, poll=2.0)
                took = time.monotonic() - started
                time.sleep(1.0)  # let the recorder see anything a confused controller might still write

            runs = list_runs(custom, namespace)
            print(f"{BURST} runs, at most {LIMIT} at once, all final {took:.0f}s after the controller started")
            assert {name: phase(run) for name, run in runs.items() if phase(run) != "Succeeded"} == {}
            assert all(asset_states(run) == {"tick": "Materialized"} for run in runs.values())
            pods = recorder.pods_by_name()
            assert {name for name, uids in pods.items() if len(uids) != 1} == set(), "a run had two Pods"
            assert set(pods) == set(names)
            assert 1 <= recorder.max_alive.get("burst", 0) <= LIMIT, recorder.max_alive
            assert [(name, found) for name in names if (found := regressions(recorder.statuses(name)))] == []
    finally:
        delete_node(api_client, NODE)


def _summary(custom: client.CustomObjectsApi, namespace: str) -> str:
    phases: dict[str, int] = {}
    for run in list_runs(custom, namespace).values():
        phases[str(phase(run))] = phases.get(str(phase(run)), 0) + 1
    return f"all {BURST} runs final; phases now: {phases}"
