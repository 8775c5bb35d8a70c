"""The local kubelet killed (SIGKILL) while runs execute on its node: the runs fail with a reason that says
what happened (NodeLost: the node stopped responding, its Pod was evicted) instead of staying Running for
ever, and no process of the dead node's Pods survives.

The failure is reported the way Kubernetes reports it, with nothing faked: the node lifecycle controller
sees the Node's Lease go stale (FAULT_TIMING: 8 s), marks the Node Unknown and its Pods not ready, taints it
NoExecute; the taint eviction controller evicts the Pods when their default toleration (2 s) runs out; the
controller reads that (reconcile/pod_outcome.py) and ends the runs. A second, healthy node (the bystander)
is needed for it: a cluster whose every node is down is a "full disruption", in which Kubernetes evicts
nothing (it suspects its own network instead).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.faults.support import (
    FaultSite,
    asset_states,
    fault_job,
    local_kubelet,
    phase,
    processes_with_env,
    wait_until,
)
from tests.integration.controller.conftest import get
from tests.integration.controller.run_failure_helpers import run_events

NODE = "kubeasset-faults-lost-node"
BYSTANDER = "kubeasset-faults-bystander"
RUNS = ("lost-1", "lost-2")


@pytest.mark.timeout(240)
def test_runs_on_a_killed_kubelet_fail_as_node_lost_and_leave_no_process(
    api_client: client.ApiClient, kubeconfig: Path, fault_site: FaultSite, tmp_path: Path
) -> None:
    custom, namespace, kubelet = fault_site.custom, fault_site.namespace, fault_site.kubelet
    core = client.CoreV1Api(api_client)
    try:
        with local_kubelet(api_client, kubeconfig, tmp_path / "bystander", BYSTANDER):
            # Default tolerations: the Pods are evicted FAULT_TIMING.toleration_seconds after the node is lost.
            fault_site.deploy(
                "lost",
                fault_job("slow", "lost", "pair", env={"FAULT_SLEEP_SECONDS": "120"}, tolerate_node_failure=False),
            )
            for name in RUNS:
                fault_site.create_run(name, "slow")

            def second_running() -> bool:
                return all(
                    asset_states(get(custom, namespace, "assetruns", name)).get("second") == "Running" for name in RUNS
                )

            wait_until(second_running, lambda: f"both runs running `second`: {_statuses(custom, namespace)}", 60)
            assert all(processes_with_env(f"KUBEASSET_RUN_NAME={name}") for name in RUNS)

            kubelet.kill()
            killed = time.monotonic()
            # The containers die with their node (they are the kubelet's children): nothing is left running.
            wait_until(
                lambda: not any(processes_with_env(f"KUBEASSET_RUN_NAME={name}") for name in RUNS),
                lambda: "the killed kubelet's Pod processes ending",
                10,
            )

            wait_until(
                lambda: all(phase(get(custom, namespace, "assetruns", name)) == "Failed" for name in RUNS),
                lambda: f"both runs Failed after the node was lost: {_statuses(custom, namespace)}",
                90,
            )
            took = time.monotonic() - killed
            for name in RUNS:
                run = get(custom, namespace, "assetruns", name)
                assert run is not None
                succeeded = next(c for c in run["status"]["conditions"] if c["type"] == "Succeeded")
                assert (succeeded["status"], succeeded["reason"]) == ("False", "NodeLost"), succeeded
                assert f"node {NODE} stopped responding" in succeeded["message"]
                assert "evicted" in succeeded["message"]
                # What the runner reported before the node died stays; the asset it was in did not finish.
                states = asset_states(run)
                assert states["first"] == "Materialized"
                assert states["second"] in ("Failed", "Canceled"), states
                assert any(why == "RunFailed" for _, why, _ in run_events(core, namespace, name))
            # 8 s grace + 2 s toleration + the controllers' periods; far from "hanging".
            assert took < 60, f"the runs took {took:.0f}s to fail"
            assert not any(processes_with_env(f"KUBEASSET_RUN_NAME={name}") for name in RUNS)
    finally:
        kubelet.kill()
        _force_delete_pods(core, namespace)  # stuck Terminating: no kubelet will ever confirm their end


def _statuses(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    out = {}
    for name in RUNS:
        run = get(custom, namespace, "assetruns", name) or {}
        status = run.get("status") or {}
        out[name] = (status.get("phase"), status.get("message"), asset_states(run))
    return out


def _force_delete_pods(core: client.CoreV1Api, namespace: str) -> None:
    for pod in core.list_namespaced_pod(namespace).items:
        try:
            core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise
