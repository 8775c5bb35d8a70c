"""The local kubelet makes Pods really run: the Node it registers, the status it writes for Pods that
succeed, fail, overrun their deadline or get deleted, `kubectl logs` through the API server, the kubeasset
runner on the example code location, and no process left behind when it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.sdk.runner_protocol import parse_run_summary
from tests.integration.conftest import REPOSITORY, Kubectl, eventually

NODE = "kubeasset-local"


@pytest.fixture(scope="module")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("kubelet")
    # a short restart back-off (a kubelet waits 10 s) keeps the OnFailure test fast
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        yield running


@pytest.fixture
def core(api_client: client.ApiClient, kubelet: LocalKubelet) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def _pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": ["python", "-c", textwrap.dedent(script)]}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def _finished(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 60.0) -> client.V1Pod:
    found: dict[str, client.V1Pod] = {}

    def terminal() -> bool:
        found["pod"] = core.read_namespaced_pod(name, namespace)
        return found["pod"].status.phase in ("Succeeded", "Failed")

    eventually(terminal, f"pod {name} finishing", timeout)
    return found["pod"]


def _running(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod:
    found: dict[str, client.V1Pod] = {}

    def running() -> bool:
        found["pod"] = core.read_namespaced_pod(name, namespace)
        return found["pod"].status.phase == "Running"

    eventually(running, f"pod {name} running", 30)
    return found["pod"]


def _conditions(pod: client.V1Pod) -> dict[str, tuple[str, str | None]]:
    return {c.type: (c.status, c.reason) for c in pod.status.conditions or []}


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # ended while listing, or a kernel thread
    return found


def test_node_is_registered_ready_with_a_heartbeat_lease(core: client.CoreV1Api, kubelet: LocalKubelet) -> None:
    node = core.read_node(NODE)
    conditions = {c.type: c for c in node.status.conditions}
    assert conditions["Ready"].status == "True" and conditions["Ready"].reason == "KubeletReady"
    assert conditions["MemoryPressure"].status == "False"
    assert {(a.type, a.address) for a in node.status.addresses} >= {("InternalIP", "127.0.0.1")}
    assert node.status.daemon_endpoints.kubelet_endpoint.port == kubelet.port
    assert int(node.status.allocatable["cpu"]) == os.cpu_count()
    assert node.metadata.labels["kubernetes.io/hostname"] == NODE
    lease = client.CoordinationV1Api(core.api_client).read_namespaced_lease(NODE, "kube-node-lease")
    assert lease.spec.holder_identity == NODE
    assert lease.metadata.owner_references[0].uid == node.metadata.uid


def test_a_pod_that_does_not_fit_the_node_stays_pending_as_unschedulable(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, _pod("misfit", "print(1)", nodeSelector={"disktype": "ssd"}))

    def scheduled_condition() -> tuple[str, str | None] | None:
        return _conditions(core.read_namespaced_pod("misfit", namespace)).get("PodScheduled")

    eventually(lambda: scheduled_condition() == ("False", "Unschedulable"), "PodScheduled=False/Unschedulable")
    pod = core.read_namespaced_pod("misfit", namespace)
    assert (pod.status.phase, pod.spec.node_name) == ("Pending", None)


def test_pod_that_exits_0_succeeds_with_its_environment(
    core: client.CoreV1Api, namespace: str, kubectl: Kubectl
) -> None:
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"colour": "blue"})
    )
    script = """
        import os
        for name in ("GREETING", "POD", "NS", "UID", "COLOUR", "EXPANDED", "MODE_FROM_ENVFROM"):
            print(name, "=", os.environ.get(name))
        print("cwd", "=", os.getcwd())
    """
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "COLOUR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "colour"}}},
        {"name": "EXPANDED", "value": "$(GREETING)-$(COLOUR)"},
    ]
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="more"), data={"ENVFROM": "yes"})
    )
    container = {
        "env": env,
        "envFrom": [{"configMapRef": {"name": "more"}, "prefix": "MODE_FROM_"}],
        "workingDir": "/tmp",
    }
    created = core.create_namespaced_pod(namespace, _pod("ok", script, container=container))

    pod = _finished(core, namespace, "ok")

    assert pod.status.phase == "Succeeded"
    assert pod.spec.node_name == NODE
    assert pod.status.host_ip == pod.status.pod_ip == "127.0.0.1"
    (status,) = pod.status.container_statuses
    terminated = status.state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.message) == (0, "Completed", None)
    assert pod.status.start_time <= terminated.started_at <= terminated.finished_at
    assert terminated.finished_at - pod.status.start_time < timedelta(seconds=30)
    assert status.container_id.startswith("kubeasset-local://") and status.container_id == terminated.container_id
    assert (status.ready, status.started, status.restart_count, status.image) == (False, False, 0, "python:3.11")
    assert _conditions(pod) == {
        "PodReadyToStartContainers": ("False", None),
        "Initialized": ("True", None),
        "Ready": ("False", "PodCompleted"),
        "ContainersReady": ("False", "PodCompleted"),
        "PodScheduled": ("True", None),
    }
    logs = kubectl("logs", "ok", "-n", namespace).stdout
    assert logs.splitlines() == [
        "GREETING = hello",
        "POD = ok",
        f"NS = {namespace}",
        f"UID = {created.metadata.uid}",
        "COLOUR = blue",
        "EXPANDED = hello-blue",
        "MODE_FROM_ENVFROM = yes",
        "cwd = /tmp",
    ]


def test_pod_that_exits_3_fails_with_its_termination_message(core: client.CoreV1Api, namespace: str) -> None:
    script = """
        import sys
        print("working")
        with open("/dev/termination-log", "w") as file:
            file.write("three assets failed")
        sys.exit(3)
    """
    core.create_namespaced_pod(namespace, _pod("fails", script))
    fallback = """
        import sys
        for line in range(100):
            print("line", line, flush=True)
        print("boom", file=sys.stderr)
        sys.exit(1)
    """
    policy = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    core.create_namespaced_pod(namespace, _pod("falls-back", fallback, container=policy))

    pod = _finished(core, namespace, "fails")
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Failed"
    assert pod.status.reason is None  # a container failure, not a pod-level one
    assert (terminated.exit_code, terminated.reason, terminated.message) == (3, "Error", "three assets failed")
    assert _conditions(pod)["Ready"] == ("False", "PodFailed")
    assert not os.path.exists("/dev/termination-log")  # the file was the container's alone

    message = _finished(core, namespace, "falls-back").status.container_statuses[0].state.terminated.message
    lines = message.splitlines()
    assert len(lines) == 80 and lines[-1] == "boom" and lines[0] == "line 21"  # the log's last 80 lines


def test_pod_past_its_active_deadline_is_killed_and_failed(core: client.CoreV1Api, namespace: str) -> None:
    script = """
        import time
        print("sleeping", flush=True)
        time.sleep(120)
    """
    core.create_namespaced_pod(
        namespace, _pod("slow", script, activeDeadlineSeconds=2, terminationGracePeriodSeconds=1)
    )

    pod = _finished(core, namespace, "slow", timeout=30)

    assert (pod.status.phase, pod.status.reason) == ("Failed", "DeadlineExceeded")
    assert pod.status.message == "Pod was active on the node longer than the specified deadline"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (143, "Error")  # SIGTERM ended it
    ran_for = terminated.finished_at - pod.status.start_time
    assert timedelta(seconds=2) <= ran_for < timedelta(seconds=10)


@pytest.mark.parametrize(
    ("script", "grace", "exit_code", "phase"),
    [
        (
            """
            import signal, sys, time
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            print("ready", flush=True)
            time.sleep(120)
            """,
            30,
            0,
            "Succeeded",
        ),
        (
            """
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("ready", flush=True)
            time.sleep(120)
            """,
            1,
            137,
            "Failed",
        ),
    ],
    ids=["stops-on-sigterm", "killed-after-grace"],
)
def test_deleted_running_pod_is_stopped_then_removed(
    core: client.CoreV1Api, namespace: str, script: str, grace: int, exit_code: int, phase: str
) -> None:
    core.create_namespaced_pod(namespace, _pod("deleted", script, terminationGracePeriodSeconds=grace))
    _running(core, namespace, "deleted")
    eventually(lambda: "ready" in core.read_namespaced_pod_log("deleted", namespace), "the SIGTERM handler")
    started = time.monotonic()
    stream = watch.Watch().stream(
        core.list_namespaced_pod, namespace, field_selector="metadata.name=deleted", timeout_seconds=60
    )
    core.delete_namespaced_pod("deleted", namespace)

    last: client.V1Pod | None = None
    for event in stream:
        if event["type"] == "DELETED":
            break
        last = event["object"]
    assert last is not None and last.metadata.deletion_timestamp is not None
    assert time.monotonic() - started < grace + 10
    assert last.status.phase == phase  # the final status is written before the Pod is removed
    assert last.status.container_statuses[0].state.terminated.exit_code == exit_code
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("deleted", namespace)
    assert gone.value.status == 404


def test_on_failure_restarts_the_container_and_keeps_the_previous_log(
    core: client.CoreV1Api, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    script = f"""
        import pathlib, sys
        attempts = pathlib.Path({str(tmp_path / "attempts")!r})
        attempts.write_text(attempts.read_text() + "x" if attempts.exists() else "x")
        print("attempt", len(attempts.read_text()), flush=True)
        sys.exit(0 if len(attempts.read_text()) == 2 else 1)
    """
    core.create_namespaced_pod(namespace, _pod("flaky", script, restartPolicy="OnFailure"))

    pod = _finished(core, namespace, "flaky")

    status = pod.status.container_statuses[0]
    assert (pod.status.phase, status.restart_count) == ("Succeeded", 1)
    assert status.state.terminated.exit_code == 0
    assert status.last_state.terminated.exit_code == 1
    assert kubectl("logs", "flaky", "-n", namespace).stdout == "attempt 2\n"
    assert kubectl("logs", "flaky", "-n", namespace, "--previous").stdout == "attempt 1\n"


def test_a_missing_config_map_holds_the_container_until_it_exists(core: client.CoreV1Api, namespace: str) -> None:
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "x"}}}]
    core.create_namespaced_pod(namespace, _pod("waits", "import os; print(os.environ['X'])", container={"env": env}))

    def waiting_reason() -> str | None:
        statuses = core.read_namespaced_pod("waits", namespace).status.container_statuses or []
        return statuses[0].state.waiting.reason if statuses and statuses[0].state.waiting else None

    eventually(lambda: waiting_reason() == "CreateContainerConfigError", "CreateContainerConfigError")
    pending = core.read_namespaced_pod("waits", namespace)
    assert pending.status.phase == "Pending"
    assert pending.status.container_statuses[0].state.waiting.message == 'configmap "later" not found'

    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="later"), data={"x": "here"})
    )
    assert _finished(core, namespace, "waits").status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("waits", namespace) == "here\n"


def test_logs_through_the_api_server(core: client.CoreV1Api, namespace: str, kubectl: Kubectl) -> None:
    script = """
        import sys, time
        for number in range(1, 6):
            print("line", number, flush=True)
            time.sleep(0.3)
        print("to stderr", file=sys.stderr, flush=True)
    """
    core.create_namespaced_pod(namespace, _pod("talks", script))
    _running(core, namespace, "talks")

    followed = kubectl("logs", "-f", "talks", "-n", namespace, timeout=30).stdout  # ends with the container
    expected = [f"line {n}" for n in range(1, 6)] + ["to stderr"]
    assert followed.splitlines() == expected
    assert _finished(core, namespace, "talks").status.phase == "Succeeded"
    assert kubectl("logs", "talks", "-n", namespace, "--tail=2").stdout.splitlines() == expected[-2:]
    assert core.read_namespaced_pod_log("talks", namespace).splitlines() == expected
    stamped = core.read_namespaced_pod_log("talks", namespace, timestamps=True, tail_lines=1)
    stamp, text = stamped.rstrip("\n").split(" ", 1)
    assert text == "to stderr"
    assert abs(datetime.fromisoformat(stamp.replace("Z", "+00:00")) - _now()) < timedelta(seconds=60)
    assert core.read_namespaced_pod_log("talks", namespace, limit_bytes=8) == "line 1\nl"
    with pytest.raises(ApiException) as previous:
        core.read_namespaced_pod_log("talks", namespace, previous=True)
    assert previous.value.status == 400 and "previous terminated container" in str(previous.value.body)


def test_runner_executes_the_example_assets(core: client.CoreV1Api, namespace: str, tmp_path: Path) -> None:
    container = {
        "command": ["python", "-m", "kubeasset.runner", "execute"],
        "args": ["--module", "shop", "--assets", "raw/orders", "--run", "local-kubelet"],
        "workingDir": str(REPOSITORY / "examples"),
        "env": [{"name": "KUBEASSET_STORAGE_URL", "value": str(tmp_path / "storage")}],
    }
    core.create_namespaced_pod(namespace, _pod("run", "", container=container))

    pod = _finished(core, namespace, "run", timeout=120)

    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Succeeded", core.read_namespaced_pod_log("run", namespace)
    summary = parse_run_summary(terminated.message)
    assert (summary.run_name, summary.result, summary.exit_code) == ("local-kubelet", "Succeeded", 0)
    assert summary.states_by_key(["raw/orders"]) == {"raw/orders": "Materialized"}
    events = [line for line in core.read_namespaced_pod_log("run", namespace).splitlines() if "@@kubeasset@@" in line]
    assert any('"AssetMaterialized"' in line and '"raw/orders"' in line for line in events)
    assert (tmp_path / "storage" / "raw" / "orders").exists()


def test_without_mount_namespaces_the_runner_gets_its_termination_log_from_the_environment(
    control_plane: ControlPlane, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    node_name = "kubeasset-no-namespaces"
    container = {
        "command": ["python", "-m", "kubeasset.runner", "execute", "--module", "shop", "--assets", "raw/orders"],
        "workingDir": str(REPOSITORY / "examples"),
        "env": [{"name": "KUBEASSET_STORAGE_URL", "value": str(tmp_path / "storage")}],
    }
    pod = _pod("plain", "", nodeSelector={"kubernetes.io/hostname": node_name}, container=container)
    folder = tmp_path / "kubelet"
    with LocalKubelet(control_plane.admin.kubeconfig, folder, node_name, mount_namespaces=False) as plain:
        assert not plain.uses_mount_namespaces
        core.create_namespaced_pod(namespace, pod)
        finished = _finished(core, namespace, "plain", timeout=120)

    assert finished.status.phase == "Succeeded"
    summary = parse_run_summary(finished.status.container_statuses[0].state.terminated.message)
    assert summary.states_by_key(["raw/orders"]) == {"raw/orders": "Materialized"}


def test_stopping_the_kubelet_stops_its_containers(
    control_plane: ControlPlane, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    marker = f"KUBELET_TEST_MARKER={uuid.uuid4().hex}"
    node_name = "kubeasset-stop-test"
    script = """
        import subprocess, time
        subprocess.Popen(["sleep", "300"])  # a child process: it must go too
        print("ready", flush=True)
        time.sleep(300)
    """
    container = {"env": [{"name": marker.split("=")[0], "value": marker.split("=")[1]}]}
    pod = _pod("stopped", script, nodeSelector={"kubernetes.io/hostname": node_name}, container=container)
    with LocalKubelet(control_plane.admin.kubeconfig, tmp_path / "kubelet", node_name, shutdown_grace_seconds=2):
        core.create_namespaced_pod(namespace, pod)
        assert _running(core, namespace, "stopped").spec.node_name == node_name
        eventually(lambda: len(_processes_with(marker)) == 3, "the sandbox, the container and its child")

    assert _processes_with(marker) == []
    stopped = core.read_namespaced_pod("stopped", namespace)
    assert (stopped.status.phase, stopped.status.reason) == ("Failed", "Terminated")
    assert stopped.status.container_statuses[0].state.terminated.exit_code == 143


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_command_line_kubelet_leaves_nothing_when_stopped_or_killed(
    control_plane: ControlPlane, core: client.CoreV1Api, namespace: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    marker = f"KUBELET_CLI_MARKER={uuid.uuid4().hex}"
    node_name = f"kubeasset-cli-{stop_signal.name.lower()}"
    container = {"env": [{"name": marker.split("=")[0], "value": marker.split("=")[1]}]}
    script = """
        import subprocess, time
        subprocess.Popen(["sleep", "300"])
        time.sleep(300)
    """
    pod = _pod("cli", script, nodeSelector={"kubernetes.io/hostname": node_name}, container=container)
    argv = [sys.executable, "-m", "kubeasset.cluster.kubelet", "--kubeconfig", str(control_plane.admin.kubeconfig)]
    argv += ["--dir", str(tmp_path / "kubelet"), "--node-name", node_name, "--shutdown-grace-seconds", "1"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        assert "ready" in process.stdout.readline(), process.stderr.read() if process.stderr else ""
        core.create_namespaced_pod(namespace, pod)
        _running(core, namespace, "cli")
        # the sandbox (the container's parent), the command and its child
        eventually(lambda: len(_processes_with(marker)) == 3, "the container's processes")
        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL)
    eventually(lambda: _processes_with(marker) == [], "every container process ending", timeout=10)
    if stop_signal == signal.SIGKILL:
        # nobody is left to finalise its graceful deletion: remove it, so its namespace can go
        core.delete_namespaced_pod("cli", namespace, grace_period_seconds=0)


def _now() -> datetime:
    return datetime.now().astimezone()
