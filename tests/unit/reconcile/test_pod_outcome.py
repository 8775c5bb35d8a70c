"""classify_pod: every state a run Pod can be in, read from Pod objects as a kubelet writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeasset.reconcile.pod_outcome import PodOutcome, PodOutcomeKind, classify_pod, format_duration
from tests.unit.reconcile import run_pod_states as states

NOW = datetime(2025, 3, 2, 5, 1, tzinfo=UTC)
K = PodOutcomeKind


def classify(
    pod: dict[str, Any] | None, *, now: datetime = NOW, timeout: float | None = 600, **kwargs: Any
) -> PodOutcome:
    return classify_pod(pod, now=now, start_timeout_seconds=timeout, **kwargs)


# (name, pod, kind, reason, final, words the message must contain)
CASES = [
    (
        "unschedulable",
        states.pod(states.UNSCHEDULABLE),
        K.PENDING,
        "Unschedulable",
        False,
        ["waiting to be scheduled", "3 Insufficient memory"],
    ),
    ("just created", states.pod(states.JUST_CREATED), K.PENDING, "Pending", False, ["waiting to be scheduled"]),
    ("creating", states.pod(states.CONTAINER_CREATING), K.PENDING, "ContainerCreating", False, ["pulling the image"]),
    (
        "ErrImagePull",
        states.pod(states.ERR_IMAGE_PULL),
        K.NOT_STARTING,
        "ErrImagePull",
        False,
        ["cannot start: ErrImagePull", "shop:1.4.3: not found"],
    ),
    (
        "ImagePullBackOff",
        states.pod(states.IMAGE_PULL_BACKOFF),
        K.NOT_STARTING,
        "ImagePullBackOff",
        False,
        ["Back-off pulling image"],
    ),
    (
        "InvalidImageName",
        states.pod(states.INVALID_IMAGE_NAME),
        K.NOT_STARTING,
        "InvalidImageName",
        True,
        ["repository name must be lowercase"],
    ),
    (
        "missing secret",
        states.pod(states.CONFIG_ERROR_SECRET),
        K.NOT_STARTING,
        "CreateContainerConfigError",
        False,
        ['secret "shop-db" not found'],
    ),
    (
        "runAsNonRoot",
        states.pod(states.CONFIG_ERROR_NON_ROOT),
        K.NOT_STARTING,
        "CreateContainerConfigError",
        False,
        ["non-numeric user (app)", "runAsUser"],
    ),
    (
        "CreateContainerError",
        states.pod(states.CREATE_CONTAINER_ERROR),
        K.NOT_STARTING,
        "CreateContainerError",
        False,
        ["failed to generate container spec"],
    ),
    (
        "init container pull",
        states.pod(states.INIT_IMAGE_PULL),
        K.NOT_STARTING,
        "ImagePullBackOff",
        False,
        ["init container istio-init", "proxyv2:9.9"],
    ),
    ("running", states.pod(states.RUNNING), K.RUNNING, "Running", False, ["is running"]),
    ("succeeded", states.pod(states.SUCCEEDED), K.SUCCEEDED, "Completed", True, ["succeeded after 12s"]),
    (
        "sidecar keeps the Pod running",
        states.pod(states.SIDECAR_DONE, sidecar=True),
        K.SUCCEEDED,
        "Completed",
        True,
        ["succeeded"],
    ),
    ("assets failed", states.pod(states.ASSETS_FAILED), K.FAILED, "Error", True, ["exit code 1 (assets failed)"]),
    (
        "OOMKilled",
        states.pod(states.OOM_KILLED),
        K.FAILED,
        "OOMKilled",
        True,
        ["Pod shop-run-1 was OOMKilled (memory limit 256Mi) after 12s"],
    ),
    (
        "OOMKilled without limit",
        states.pod(states.OOM_KILLED, memory_limit=None),
        K.FAILED,
        "OOMKilled",
        True,
        ["no memory limit"],
    ),
    (
        "evicted",
        states.pod(states.EVICTED),
        K.FAILED,
        "Evicted",
        True,
        ["was evicted after 12s: The node was low on resource: memory", "exceeds its request of 256Mi"],
    ),
    (
        "deadline",
        states.pod(states.DEADLINE_EXCEEDED, deadline=3600),
        K.FAILED,
        "DeadlineExceeded",
        True,
        ["exceeded its run timeout of 1h00m (runTimeoutSeconds)"],
    ),
    (
        "runner crashed",
        states.pod(states.RUNNER_CRASHED),
        K.FAILED,
        "Error",
        True,
        [
            "exit code 3 (internal error of the kubeasset runner, or the asset code exited with 3)",
            "RuntimeError: executor state is inconsistent",
        ],
    ),
    (
        "segfault",
        states.pod(states.SEGFAULT),
        K.FAILED,
        "Error",
        True,
        ["exit code 139 (killed by SIGSEGV)", "Segmentation fault"],
    ),
    (
        "python missing",
        states.pod(states.START_ERROR),
        K.FAILED,
        "ContainerCannotRun",
        True,
        ['exec: "python": executable file not found'],
    ),
    (
        "admission rejected",
        states.pod(states.OUT_OF_MEMORY),
        K.FAILED,
        "OutOfmemory",
        True,
        ["Node didn't have enough resource: memory"],
    ),
    ("node lost", states.pod(states.NODE_LOST), K.FAILED, "NodeLost", True, ["node-2", "unresponsive"]),
    (
        "phase Unknown",
        states.pod(states.PHASE_UNKNOWN),
        K.UNKNOWN,
        "NodeNotReporting",
        False,
        ["node stopped reporting"],
    ),
    (
        "being deleted",
        states.pod(states.DRAINED, deleting=True),
        K.TERMINATING,
        "Terminating",
        False,
        ["being deleted (EvictionByEvictionAPI: Eviction API: evicting)"],
    ),
    (
        "deleted",
        states.pod(states.KILLED_ON_DELETE, deleting=True),
        K.FAILED,
        "Deleted",
        True,
        ["was deleted after 12s, before it finished"],
    ),
]


@pytest.mark.parametrize(("name", "pod", "kind", "reason", "final", "words"), CASES, ids=[c[0] for c in CASES])
def test_classifies_each_pod_state(
    name: str, pod: dict[str, Any], kind: PodOutcomeKind, reason: str, final: bool, words: list[str]
) -> None:
    outcome = classify(pod)
    assert (outcome.kind, outcome.reason, outcome.final) == (kind, reason, final)
    for word in words:
        assert word in outcome.message
    assert "\n" not in outcome.message
    assert outcome.pod_name == "shop-run-1"


def test_no_pod_is_not_created_unless_it_existed_before() -> None:
    assert classify(None).kind == K.NOT_CREATED
    assert not classify(None).final
    gone = classify(None, previously_seen=True)
    assert (gone.kind, gone.reason, gone.final) == (K.FAILED, "Deleted", True)


def test_evicted_wins_over_the_container_state_the_runtime_wrote() -> None:
    outcome = classify(states.pod(states.EVICTED))
    assert outcome.reason == "Evicted"  # the container says OOMKilled/143, the kubelet says Evicted
    assert outcome.exit_code == 143


def test_exit_code_times_and_termination_message_are_carried() -> None:
    outcome = classify(states.pod(states.ASSETS_FAILED))
    assert outcome.exit_code == 1
    assert outcome.termination_message == states.SUMMARY_ASSET_FAILED
    assert outcome.started_at == datetime(2025, 3, 2, 5, 0, 3, tzinfo=UTC)
    assert outcome.finished_at == datetime(2025, 3, 2, 5, 0, 15, tzinfo=UTC)
    assert outcome.image_id == states.IMAGE_ID
    assert outcome.runner_completed
    assert "{" not in outcome.message  # the JSON summary is not a message for a person


def test_a_pod_killed_from_outside_is_not_a_runner_completion() -> None:
    for status in (states.OOM_KILLED, states.RUNNER_CRASHED, states.EVICTED):
        assert not classify(states.pod(status)).runner_completed


def test_a_never_started_container_has_no_start_time() -> None:
    outcome = classify(states.pod(states.START_ERROR))
    assert outcome.started_at is None  # the runtime wrote 1970-01-01
    assert "after" not in outcome.message


def test_start_timeout_counts_from_the_pod_creation() -> None:
    created = datetime(2025, 3, 2, 5, 0, tzinfo=UTC)
    backoff = states.pod(states.IMAGE_PULL_BACKOFF)
    assert not classify(backoff, now=created + timedelta(seconds=599)).final
    outcome = classify(backoff, now=created + timedelta(seconds=600))
    assert (outcome.kind, outcome.reason, outcome.final) == (K.NOT_STARTING, "StartTimeout", True)
    assert "did not start within 10m00s" in outcome.message
    assert "ImagePullBackOff" in outcome.message


def test_start_timeout_applies_to_an_unschedulable_pod_and_never_to_a_running_one() -> None:
    late = datetime(2025, 3, 2, 6, 0, tzinfo=UTC)
    stuck = classify(states.pod(states.UNSCHEDULABLE), now=late)
    assert stuck.reason == "StartTimeout"
    assert "Insufficient memory" in stuck.message
    assert classify(states.pod(states.RUNNING), now=late).kind == K.RUNNING
    assert classify(states.pod(states.IMAGE_PULL_BACKOFF), now=late, timeout=None).reason == "ImagePullBackOff"


def test_the_named_container_is_read() -> None:
    pod = states.pod(states.SIDECAR_DONE, sidecar=True)
    assert classify(pod, container="istio-proxy").kind == K.RUNNING
    assert classify(pod, container="run").kind == K.SUCCEEDED


def test_classification_is_pure() -> None:
    pod = states.pod(states.OOM_KILLED)
    snapshot = repr(pod)
    assert classify(pod) == classify(pod)
    assert repr(pod) == snapshot


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (12.4, "12s"), (185, "3m05s"), (3600, "1h00m")])
def test_durations_read_like_kubectl(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_sidecar_status_is_never_read_as_the_runner_status() -> None:
    status = states.node_status(
        "Pending", [states.container_status({"running": {"startedAt": states.STARTED}}, name="istio-proxy")]
    )
    outcome = classify(states.pod(status, sidecar=True))
    assert outcome.kind == K.PENDING  # the runner's container has no status yet


def test_a_failed_init_container_fails_the_pod() -> None:
    status = {
        **states.waiting("PodInitializing"),
        "phase": "Failed",
        "initContainerStatuses": [
            states.container_status(
                {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "message": "chown: /data: Operation not permitted\n",
                    }
                },
                name="fix-permissions",
            )
        ],
    }
    outcome = classify(states.pod(status))
    assert (outcome.kind, outcome.reason, outcome.final) == (K.FAILED, "InitContainerFailed", True)
    assert "init container fix-permissions: exit code 1" in outcome.message
    assert "Operation not permitted" in outcome.message


def test_the_message_quotes_the_last_line_a_person_wrote_not_a_runner_event() -> None:
    tail = 'starting the slow part\n@@kubeasset@@ {"v":1,"type":"AssetStarted","assetKey":"crash"}\n'
    outcome = classify(states.pod(states.terminated(3, "Error", message=tail)))
    assert "starting the slow part" in outcome.message
    assert "@@kubeasset@@" not in outcome.message
    assert "exit code 3" in outcome.message and "or the asset code exited with 3" in outcome.message
