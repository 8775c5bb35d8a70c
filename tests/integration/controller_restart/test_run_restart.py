"""A controller killed (SIGKILL) while a run's asset is running, and started again, finishes the run from what
the Pod and its log say: Succeeded, every asset Materialized, no state ever going back, and the one Pod it
had (never a second one).

The controller runs here as what is deployed: a separate process, ``python -m kubeasset.controller
--namespace NS --no-leader-elect``, so that it can really be killed (one replica: no Lease to wait for).

Why this test has a package of its own: the controller package's ``controller`` fixture
(tests/integration/controller/conftest.py) is an in-process controller watching every namespace for the
whole package; were this test in that package, that controller would keep reconciling the run while the
process under test is dead, and the test would prove nothing. Package-scoped fixtures end when pytest leaves
their package, so no in-process controller runs during this module (the test also checks it: nobody writes
the run while the process is down). It has its own local kubelet on a node name of its own, like every
module that starts one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from tests.integration.conftest import eventually
from tests.integration.controller.conftest import create, get, wait_for_condition
from tests.integration.controller.run_failure_helpers import (
    Recorder,
    asset_states,
    failure_location,
    job_manifest,
    phase,
    read_pod,
    reason,
    regressions,
    run_events,
    run_manifest,
    wait_for_phase,
    wait_for_run,
)

NODE = "kubeasset-controller-restart-tests"
LOCATION = "restart"


@pytest.fixture(scope="module")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("restart-kubelet")
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        yield running


class ControllerProcess:
    """``python -m kubeasset.controller`` for one namespace, its output in ``log``."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.log = log
        # One replica: no leader election (a killed leader's Lease would only delay the restart until it expires).
        command = [
            sys.executable,
            "-m",
            "kubeasset.controller",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--no-leader-elect",
        ]
        with log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a node dies or the OOM killer strikes."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def test_a_controller_killed_mid_run_finishes_the_run_after_a_restart(
    api_client: client.ApiClient,
    kubeconfig: Path,
    crds: list[dict[str, Any]],
    kubelet: LocalKubelet,
    namespace: str,
    tmp_path: Path,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    log = tmp_path / "controller.log"
    first = ControllerProcess(kubeconfig, namespace, log)
    second: ControllerProcess | None = None
    try:
        create(custom, namespace, failure_location(LOCATION, NODE, tmp_path / "storage"))
        job = job_manifest("slow", LOCATION, "slow", env={"FAILURE_TEST_SLEEP_SECONDS": "5"})
        create(custom, namespace, job)
        wait_for_condition(custom, namespace, "assetjobs", "slow", "True", timeout=90)

        with Recorder(api_client, namespace) as recorder:
            create(custom, namespace, run_manifest("slow-1", "slow"))
            running = wait_for_run(
                custom,
                namespace,
                "slow-1",
                lambda run: asset_states(run).get("slow") == "Running",
                "asset slow Running (its start reported live)",
                40,
            )
            assert asset_states(running)["before_slow"] == "Materialized"
            pod = read_pod(core, namespace, "slow-1")
            assert pod is not None
            uid = pod["metadata"]["uid"]

            first.kill()
            at_kill = get(custom, namespace, "assetruns", "slow-1")
            assert at_kill is not None

            # The Pod finishes while no controller runs; nothing else writes the run meanwhile.
            def pod_succeeded() -> bool:
                found = read_pod(core, namespace, "slow-1")
                return found is not None and found["status"].get("phase") == "Succeeded"

            eventually(pod_succeeded, "the run's Pod succeeding while the controller is down", 30)
            time.sleep(1.0)
            unattended = get(custom, namespace, "assetruns", "slow-1")
            assert unattended is not None
            assert unattended["metadata"]["resourceVersion"] == at_kill["metadata"]["resourceVersion"], (
                "someone else reconciled the run while the controller process was dead"
            )
            assert phase(unattended) == "Running"

            second = ControllerProcess(kubeconfig, namespace, log)
            done = wait_for_phase(custom, namespace, "slow-1", {"Succeeded", "Failed", "Canceled"}, 60)
            eventually(
                lambda: [why for _, why, _ in run_events(core, namespace, "slow-1")].count("RunSucceeded") == 1,
                "one RunSucceeded Event",
                10,
            )
            time.sleep(1.0)  # let the recorder see anything a confused controller might still write
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- controller log (tail) ---\n{first.tail()}") from None
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert (phase(done), reason(done)) == ("Succeeded", "Succeeded"), done["status"]
    assert asset_states(done) == {"before_slow": "Materialized", "slow": "Materialized", "after_slow": "Materialized"}
    assert done["status"]["progress"] == "3/3"
    assert recorder.pods_added("slow-1") == [uid]  # one Pod, ever: the restarted controller adopted it
    final_pod = read_pod(core, namespace, "slow-1")
    assert final_pod is not None and final_pod["metadata"]["uid"] == uid
    assert regressions(recorder.run_statuses("slow-1")) == []
    assert [why for _, why, _ in run_events(core, namespace, "slow-1")].count("RunSucceeded") == 1
    # The catalog learned of the materializations the dead controller never saw.
    catalog = get(custom, namespace, "assets", f"{LOCATION}.after-slow")
    assert catalog is not None and catalog["status"]["state"] == "Materialized", (catalog or {}).get("status")
    assert catalog["status"]["lastMaterialization"]["runName"] == "slow-1"
