"""How an AssetRun ends when its Pod fails, through the real controller and a real API server: every Pod
failure a person can act on ends the run Failed with that reason and leaves no asset Pending or Running; a
retry re-runs only what did not materialize; ``maxConcurrentRuns`` queues runs.

Where the package's local kubelet can produce the failure, it does (the runner really exits with 3, really
outlives its activeDeadlineSeconds, its Pod is really deleted while it runs). The local kubelet cannot
fail an image pull, OOM-kill or evict: for those the run's Pod is pinned (the job's ``pod.nodeSelector``)
to a node no kubelet serves, and the test plays that node's kubelet by writing the Pod's status
subresource as a kubelet would (phase, the container's waiting/terminated state with reason and exit
code, the pod-level reason and message of an eviction). What the controller reacts to is exactly that: the
Pod status a kubelet writes. (The package kubelet marks such Pods PodScheduled=False/Unschedulable, as a
scheduler would; that is what the start-timeout test relies on.)

All tests share one namespace and one CodeLocation (a discovery per test would cost more than the tests),
each with jobs and runs of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.controller.operator import ControllerThread
from tests.integration.conftest import eventually
from tests.integration.controller.conftest import NODE, condition, create, get, wait_for_condition
from tests.integration.controller.run_failure_helpers import (
    FINAL_ASSET_STATES,
    Recorder,
    asset_entry,
    asset_states,
    failure_location,
    job_manifest,
    phase,
    pod_env,
    read_pod,
    reason,
    regressions,
    run_events,
    run_manifest,
    succeeded_condition,
    wait_for_phase,
    wait_for_pod,
    wait_for_run,
)

LOCATION = "failures"
#: A node name no kubelet serves: Pods pinned to it never run, and the test writes their status.
NOWHERE = "kubeasset-no-kubelet"
_PINNED_NOWHERE = {"nodeSelector": {"kubernetes.io/hostname": NOWHERE}}
_RUN_CONTAINER = "run"


@pytest.fixture(scope="module")
def shared(
    api_client: client.ApiClient,
    controller: ControllerThread,
    kubelet: LocalKubelet,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    """(namespace, a scratch folder) with the failures CodeLocation discovered in it."""
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    namespace = f"t-run-failures-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    folder = tmp_path_factory.mktemp("run-failures")
    create(custom, namespace, failure_location(LOCATION, NODE, folder / "storage"))
    wait_for_condition(custom, namespace, "codelocations", LOCATION, "True", timeout=90)
    yield namespace, folder
    try:
        core.delete_namespace(namespace)
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture
def custom(api_client: client.ApiClient, controller: ControllerThread) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def _ready_job(custom: client.CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> None:
    create(custom, namespace, manifest)
    wait_for_condition(custom, namespace, "assetjobs", manifest["metadata"]["name"], "True", timeout=30)


def _start_run(custom: client.CustomObjectsApi, namespace: str, name: str, job: str) -> None:
    create(custom, namespace, run_manifest(name, job))


def _assert_failed(run: dict[str, Any], expected_reason: str) -> None:
    """Failed with ``expected_reason`` on the Succeeded condition, and no asset left unfinished."""
    condition = succeeded_condition(run)
    assert (phase(run), condition.get("status"), reason(run)) == ("Failed", "False", expected_reason), run["status"]
    states = asset_states(run)
    assert states and set(states.values()) <= FINAL_ASSET_STATES, states
    assert run["status"].get("completionTime"), run["status"]


def _assert_warned(core: client.CoreV1Api, namespace: str, name: str, text: str) -> None:
    """A RunFailed Warning Event on the run that names ``text``."""

    def warned() -> bool:
        return any(
            kind == "Warning" and why == "RunFailed" and text in message
            for kind, why, message in run_events(core, namespace, name)
        )

    try:
        eventually(warned, f"a RunFailed Warning Event on {name} mentioning {text!r}", 10)
    except AssertionError as error:
        raise AssertionError(f"{error}; Events: {run_events(core, namespace, name)}") from None


# --- playing the kubelet of a node no kubelet serves --------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(pod_ready: bool, moment: str) -> list[dict[str, Any]]:
    ready = "True" if pod_ready else "False"
    # No PodScheduled: the package kubelet, playing the scheduler, keeps it False/Unschedulable on these Pods.
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": moment},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": moment},
        {"type": "Ready", "status": ready, "lastTransitionTime": moment},
    ]


def _container_status(pod: dict[str, Any], state: dict[str, Any], *, started: bool) -> dict[str, Any]:
    image = pod["spec"]["containers"][0]["image"]
    return {
        "name": _RUN_CONTAINER,
        "image": image,
        "imageID": f"docker-pullable://{image}" if started else "",
        "ready": "running" in state,
        "started": started,
        "restartCount": 0,
        "state": state,
    }


def _write_status(core: client.CoreV1Api, namespace: str, name: str, status: dict[str, Any]) -> None:
    """What a kubelet does: a merge patch of the Pod's status subresource."""
    core.patch_namespaced_pod_status(name, namespace, {"status": status}, _content_type="application/merge-patch+json")


def _kubelet_waiting(core: client.CoreV1Api, namespace: str, pod: dict[str, Any], why: str, message: str) -> None:
    moment = _now()
    status = {
        "phase": "Pending",
        "hostIP": "10.0.0.9",
        "startTime": moment,
        "conditions": _conditions(False, moment),
        "containerStatuses": [_container_status(pod, {"waiting": {"reason": why, "message": message}}, started=False)],
    }
    _write_status(core, namespace, pod["metadata"]["name"], status)


def _kubelet_running(core: client.CoreV1Api, namespace: str, pod: dict[str, Any], started_at: str) -> None:
    status = {
        "phase": "Running",
        "hostIP": "10.0.0.9",
        "podIP": "10.1.0.9",
        "startTime": started_at,
        "conditions": _conditions(True, started_at),
        "containerStatuses": [_container_status(pod, {"running": {"startedAt": started_at}}, started=True)],
    }
    _write_status(core, namespace, pod["metadata"]["name"], status)


def _kubelet_failed(
    core: client.CoreV1Api,
    namespace: str,
    pod: dict[str, Any],
    started_at: str,
    terminated: dict[str, Any],
    **pod_level: Any,
) -> None:
    moment = _now()
    state = {"terminated": {"startedAt": started_at, "finishedAt": moment, **terminated}}
    conditions = _conditions(False, moment)
    if pod_level.get("reason") == "Evicted":
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "TerminationByKubelet",
                "message": pod_level.get("message", ""),
                "lastTransitionTime": moment,
            }
        )
    status = {
        "phase": "Failed",
        "startTime": started_at,
        "conditions": conditions,
        "containerStatuses": [_container_status(pod, state, started=False)],
        **pod_level,
    }
    _write_status(core, namespace, pod["metadata"]["name"], status)


# --- failures a kubelet reports ------------------------------------------------------------------------


def test_an_image_that_cannot_be_pulled_fails_the_run_at_its_start_timeout(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    _ready_job(custom, namespace, job_manifest("pull", LOCATION, "quick", pod=_PINNED_NOWHERE, startTimeoutSeconds=6))
    _start_run(custom, namespace, "pull-1", "pull")
    pod = wait_for_pod(core, namespace, "pull-1")

    pull_error = (
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/kubeasset-example:test": '
        "not found"
    )
    _kubelet_waiting(core, namespace, pod, "ErrImagePull", pull_error)
    run = wait_for_run(custom, namespace, "pull-1", lambda r: reason(r) == "ErrImagePull", "reason ErrImagePull", 5)
    assert phase(run) == "Starting"
    assert pull_error in run["status"]["message"]

    _kubelet_waiting(core, namespace, pod, "ImagePullBackOff", 'Back-off pulling image "kubeasset-example:test"')
    wait_for_run(custom, namespace, "pull-1", lambda r: reason(r) == "ImagePullBackOff", "reason ImagePullBackOff", 5)

    run = wait_for_phase(custom, namespace, "pull-1", {"Failed"}, 20)
    _assert_failed(run, "StartTimeout")
    assert "did not start within 6s" in run["status"]["message"]
    assert "ImagePullBackOff" in run["status"]["message"]
    assert set(asset_states(run).values()) == {"Canceled"}
    assert "the Pod did not start in time" in asset_entry(run, "quick")["message"]
    _assert_warned(core, namespace, "pull-1", "ImagePullBackOff")
    # A final run whose Pod never started does not leave it waiting for an image forever.
    eventually(lambda: read_pod(core, namespace, "pull-1") is None, "the controller deleting the Pod", 15)


def test_a_pod_that_cannot_be_scheduled_fails_the_run_at_its_start_timeout(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    _ready_job(
        custom,
        namespace,
        job_manifest("unschedulable", LOCATION, "quick", pod=_PINNED_NOWHERE, startTimeoutSeconds=5),
    )
    _start_run(custom, namespace, "unschedulable-1", "unschedulable")
    wait_for_pod(core, namespace, "unschedulable-1")

    run = wait_for_phase(custom, namespace, "unschedulable-1", {"Failed"}, 20)
    _assert_failed(run, "StartTimeout")
    message = run["status"]["message"]
    assert "did not start within 5s" in message
    assert "didn't match Pod's node affinity/selector" in message  # what the scheduler said, passed on
    assert set(asset_states(run).values()) == {"Canceled"}
    _assert_warned(core, namespace, "unschedulable-1", "did not start within 5s")
    eventually(lambda: read_pod(core, namespace, "unschedulable-1") is None, "the controller deleting the Pod", 15)


def test_an_oom_killed_pod_fails_the_run_as_oomkilled(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    limited = {**_PINNED_NOWHERE, "resources": {"limits": {"memory": "64Mi"}}}
    _ready_job(custom, namespace, job_manifest("oom", LOCATION, "slow", pod=limited))
    _start_run(custom, namespace, "oom-1", "oom")
    pod = wait_for_pod(core, namespace, "oom-1")
    started = _now()
    _kubelet_running(core, namespace, pod, started)
    wait_for_phase(custom, namespace, "oom-1", {"Running"}, 10)

    _kubelet_failed(core, namespace, pod, started, {"exitCode": 137, "reason": "OOMKilled"})

    run = wait_for_phase(custom, namespace, "oom-1", {"Failed"}, 10)
    _assert_failed(run, "OOMKilled")
    assert "was OOMKilled (memory limit 64Mi)" in run["status"]["message"]
    # The runner never reported (no log from a node nobody serves): nothing ran as far as anyone knows.
    assert asset_states(run) == {"before_slow": "Canceled", "slow": "Canceled", "after_slow": "Canceled"}
    assert "the Pod was OOMKilled" in asset_entry(run, "slow")["message"]
    _assert_warned(core, namespace, "oom-1", "OOMKilled")
    assert read_pod(core, namespace, "oom-1") is not None  # an ended Pod is kept for `kubectl logs`


def test_an_evicted_pod_fails_the_run_as_evicted(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    _ready_job(custom, namespace, job_manifest("evicted", LOCATION, "slow", pod=_PINNED_NOWHERE))
    _start_run(custom, namespace, "evicted-1", "evicted")
    pod = wait_for_pod(core, namespace, "evicted-1")
    started = _now()
    _kubelet_running(core, namespace, pod, started)
    wait_for_phase(custom, namespace, "evicted-1", {"Running"}, 10)

    pressure = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 61Mi."
    # A kubelet evicting a Pod: phase Failed, the pod-level reason and message, the container killed.
    _kubelet_failed(
        core, namespace, pod, started, {"exitCode": 137, "reason": "Error"}, reason="Evicted", message=pressure
    )

    run = wait_for_phase(custom, namespace, "evicted-1", {"Failed"}, 10)
    _assert_failed(run, "Evicted")
    assert "was evicted" in run["status"]["message"] and pressure in run["status"]["message"]
    assert set(asset_states(run).values()) == {"Canceled"}
    assert "the Pod was evicted" in asset_entry(run, "before_slow")["message"]
    _assert_warned(core, namespace, "evicted-1", "evicted")


# --- failures the local kubelet really produces ------------------------------------------------------


def test_a_run_past_its_run_timeout_fails_as_deadline_exceeded(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    # 6s: time enough for the runner to start and materialize before_slow on a busy machine.
    job = job_manifest("timeout", LOCATION, "slow", env={"FAILURE_TEST_SLEEP_SECONDS": "60"}, runTimeoutSeconds=6)
    _ready_job(custom, namespace, job)
    _start_run(custom, namespace, "timeout-1", "timeout")

    run = wait_for_phase(custom, namespace, "timeout-1", {"Failed", "Succeeded"}, 40)
    _assert_failed(run, "DeadlineExceeded")
    assert "exceeded its run timeout of 6s (runTimeoutSeconds)" in run["status"]["message"]
    # The kubelet stopped the runner mid-asset (SIGTERM); the runner reported the asset it ran as canceled.
    assert asset_states(run) == {"before_slow": "Materialized", "slow": "Canceled", "after_slow": "Canceled"}
    assert "interrupted" in asset_entry(run, "slow")["message"]
    pod = read_pod(core, namespace, "timeout-1")
    assert pod is not None and pod["status"]["reason"] == "DeadlineExceeded"  # the kubelet's, not the controller's
    _assert_warned(core, namespace, "timeout-1", "run timeout")


def test_a_runner_process_that_exits_with_3_fails_the_run_with_the_exit_code(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    _ready_job(custom, namespace, job_manifest("crash", LOCATION, "crash"))
    _start_run(custom, namespace, "crash-1", "crash")

    run = wait_for_phase(custom, namespace, "crash-1", {"Failed", "Succeeded"}, 40)
    _assert_failed(run, "Error")
    assert "exit code 3" in run["status"]["message"]
    assert asset_states(run) == {"before_crash": "Materialized", "crash": "Failed", "after_crash": "Canceled"}
    assert "exit code 3" in asset_entry(run, "crash")["message"]
    assert "exit code 3" in asset_entry(run, "after_crash")["message"]
    _assert_warned(core, namespace, "crash-1", "exit code 3")


def test_deleting_a_running_pod_fails_the_run_as_deleted(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    _ready_job(custom, namespace, job_manifest("deleted", LOCATION, "slow", env={"FAILURE_TEST_SLEEP_SECONDS": "60"}))
    _start_run(custom, namespace, "deleted-1", "deleted")
    wait_for_run(
        custom,
        namespace,
        "deleted-1",
        lambda r: asset_states(r).get("slow") == "Running",
        "asset slow Running",
        40,
    )

    core.delete_namespaced_pod("deleted-1", namespace)

    run = wait_for_phase(custom, namespace, "deleted-1", {"Failed", "Succeeded", "Canceled"}, 40)
    _assert_failed(run, "Deleted")
    assert "deleted" in run["status"]["message"]
    states = asset_states(run)
    assert states["before_slow"] == "Materialized" and states["after_slow"] == "Canceled", states
    # Canceled when the runner's last event lines (it got SIGTERM) were read before the Pod vanished, else
    # Failed with the Pod's fate: never Running.
    assert states["slow"] in ("Canceled", "Failed"), states
    _assert_warned(core, namespace, "deleted-1", "deleted")
    eventually(lambda: read_pod(core, namespace, "deleted-1") is None, "the Pod being gone", 40)
    # The Pod is gone, the run stays as it ended: nobody creates a second Pod for it.
    assert phase(get(custom, namespace, "assetruns", "deleted-1")) == "Failed"
    assert read_pod(core, namespace, "deleted-1") is None


# --- retries and the queue -----------------------------------------------------------------------------


def test_a_retry_re_runs_only_the_failed_and_skipped_assets(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, shared: tuple[str, Path]
) -> None:
    namespace, folder = shared
    marker = folder / "flaky-marker"
    job = job_manifest("flaky", LOCATION, "flaky", env={"FAILURE_TEST_MARKER": str(marker)}, retry={"maxRetries": 2})
    _ready_job(custom, namespace, job)
    _start_run(custom, namespace, "flaky-1", "flaky")

    first = wait_for_phase(custom, namespace, "flaky-1", {"Failed", "Succeeded"}, 40)
    _assert_failed(first, "AssetsFailed")
    assert asset_states(first) == {"upstream": "Materialized", "flaky": "Failed", "downstream": "Skipped"}
    assert "flaky failure" in asset_entry(first, "flaky")["message"]
    assert first["status"]["attempts"] == 1

    retry = wait_for_phase(custom, namespace, "flaky-1-retry-1", {"Failed", "Succeeded"}, 40)
    assert retry["spec"]["trigger"] == {"type": "Retry", "retryOf": "flaky-1"}
    assert retry["spec"]["job"] == "flaky"
    assert retry["metadata"]["labels"]["kubeasset.dev/retry-of"] == "flaky-1"
    # Only what did not materialize runs again; upstream's value is read from the storage.
    assert asset_states(retry) == {"flaky": "Materialized", "downstream": "Materialized"}, retry["status"]
    assert (phase(retry), reason(retry)) == ("Succeeded", "Succeeded")
    assert retry["status"]["attempts"] == 2
    pod = read_pod(core, namespace, "flaky-1-retry-1")
    assert pod is not None and pod_env(pod, "KUBEASSET_ASSETS") == "flaky,downstream"

    original = get(custom, namespace, "assetruns", "flaky-1")
    retried = condition(original, "Retried") or {}
    assert (retried.get("status"), retried.get("reason")) == ("True", "RetryCreated"), original
    assert "flaky-1-retry-1" in retried["message"]
    # The failed run keeps its own result; a succeeded retry makes no further retry.
    assert phase(original) == "Failed"
    assert get(custom, namespace, "assetruns", "flaky-1-retry-2") is None
    _assert_warned(core, namespace, "flaky-1", "retrying as run flaky-1-retry-1")


def test_max_concurrent_runs_queues_the_second_run_until_the_first_ends(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, api_client: client.ApiClient, shared: tuple[str, Path]
) -> None:
    namespace, _ = shared
    job = job_manifest("queue", LOCATION, "quick", env={"FAILURE_TEST_SLEEP_SECONDS": "3"}, maxConcurrentRuns=1)
    _ready_job(custom, namespace, job)
    with Recorder(api_client, namespace) as recorder:
        _start_run(custom, namespace, "queue-a", "queue")
        wait_for_pod(core, namespace, "queue-a")
        _start_run(custom, namespace, "queue-b", "queue")

        waiting = wait_for_run(
            custom,
            namespace,
            "queue-b",
            lambda r: reason(r) == "WaitingForConcurrency",
            "reason WaitingForConcurrency",
            10,
        )
        assert phase(waiting) == "Pending"
        message = waiting["status"]["message"]
        assert "allows 1 concurrent run (maxConcurrentRuns)" in message
        assert phase(get(custom, namespace, "assetruns", "queue-a")) in ("Pending", "Starting", "Running")
        assert read_pod(core, namespace, "queue-b") is None

        first = wait_for_phase(custom, namespace, "queue-a", {"Succeeded", "Failed"}, 40)
        second = wait_for_phase(custom, namespace, "queue-b", {"Succeeded", "Failed"}, 40)
    assert (phase(first), phase(second)) == ("Succeeded", "Succeeded"), (first["status"], second["status"])
    assert recorder.max_alive.get("queue") == 1, recorder.max_alive
    assert len(recorder.pods_added("queue-a")) == len(recorder.pods_added("queue-b")) == 1
    pod_a, pod_b = read_pod(core, namespace, "queue-a"), read_pod(core, namespace, "queue-b")
    assert pod_a is not None and pod_b is not None
    finished_a = pod_a["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    assert pod_b["metadata"]["creationTimestamp"] >= finished_a  # RFC 3339 UTC strings sort by time
    assert regressions(recorder.run_statuses("queue-b")) == []
