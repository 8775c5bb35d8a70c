"""kube-apiserver restarted (etcd kept) while runs execute: the controller reconnects, its kopf watches and
its own client calls both, and every run converges; runs created after each restart run too (only a watch
that came back sees them). Also what ControlPlane.restart_apiserver() promises: same address, same objects,
a new process.

The apiserver is restarted twice: once SIGKILLed (connections cut mid-request, watches dropped without an
answer) and down for a few seconds, once stopped gracefully.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kubeasset.cluster.control_plane import ControlPlane
from tests.faults.support import FaultRecorder, FaultSite, asset_states, fault_job, phase, wait_until
from tests.integration.controller.conftest import get
from tests.integration.controller.run_failure_helpers import regressions

NODE = "kubeasset-faults-apiserver-restart"
T = TypeVar("T")


def test_restart_apiserver_keeps_the_address_and_every_object(
    control_plane: ControlPlane, api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="kept"), data={"a": "1"})
    before = core.create_namespaced_config_map(namespace, body)
    server, pid = control_plane.admin.server, control_plane.pids["kube-apiserver"]

    control_plane.restart_apiserver(kill=True, downtime_seconds=1.0)

    assert control_plane.admin.server == server
    assert control_plane.pids["kube-apiserver"] != pid
    assert set(control_plane.pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    after = _retrying(lambda: core.read_namespaced_config_map("kept", namespace))
    assert (after.metadata.uid, after.data) == (before.metadata.uid, {"a": "1"})
    control_plane.raise_if_exited()


@pytest.mark.timeout(300)
def test_the_controller_reconnects_after_apiserver_restarts_and_every_run_converges(
    control_plane: ControlPlane, fault_site: FaultSite
) -> None:
    custom, namespace = fault_site.custom, fault_site.namespace
    names: list[str] = []

    def create_runs(count: int) -> None:
        for _ in range(count):
            name = f"run-{len(names):02d}"
            _retrying(lambda name=name: fault_site.create_run(name, "pair"))
            names.append(name)

    def some_running(among: list[str], count: int) -> Callable[[], bool]:
        def check() -> bool:
            runs = fault_site.runs()
            return sum(1 for name in among if asset_states(runs.get(name)).get("second") == "Running") >= count

        return check

    pair = fault_job("pair", "restart", "pair", max_concurrent_runs=6, env={"FAULT_SLEEP_SECONDS": "3"})
    fault_site.deploy("restart", pair)

    with FaultRecorder(fault_site.api_client, namespace) as recorder:
        create_runs(12)
        wait_until(some_running(names, 3), lambda: "three runs with `second` running", 60)
        control_plane.restart_apiserver(kill=True, downtime_seconds=3.0)

        after_kill = len(names)
        create_runs(8)
        wait_until(some_running(names[after_kill:], 2), lambda: "runs created after the restart running", 90)
        control_plane.restart_apiserver()

        create_runs(5)

        def all_final() -> bool:
            runs = fault_site.runs()
            return all(phase(runs.get(name)) in ("Succeeded", "Failed", "Canceled") for name in names)

        wait_until(all_final, lambda: f"all runs final: {fault_site.phase_counts()}", 150, poll=1.0)
        time.sleep(1.0)
    assert fault_site.controller.alive, "the controller exited when the apiserver went away"

    runs = fault_site.runs()
    wrong = {
        name: (phase(run), asset_states(run), (run.get("status") or {}).get("message"))
        for name, run in runs.items()
        if (phase(run), asset_states(run)) != ("Succeeded", {"first": "Materialized", "second": "Materialized"})
    }
    assert wrong == {}
    pods = recorder.pods_by_name()
    assert {name: uids for name, uids in pods.items() if len(uids) != 1} == {}, "a run had two Pods"
    assert set(pods) == set(names)
    assert {name: found for name in names if (found := regressions(recorder.statuses(name)))} == {}
    assert recorder.max_alive.get("pair", 0) <= 6, recorder.max_alive
    assert get(custom, namespace, "assetjobs", "pair") is not None


def _retrying(call: Callable[[], T], timeout: float = 30.0) -> T:
    """``call()``, again while the apiserver is not back (connection refused, 429/5xx while it starts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ApiException as error:
            if error.status not in (429, 500, 503, 504) or time.monotonic() > deadline:
                raise
        except HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)
