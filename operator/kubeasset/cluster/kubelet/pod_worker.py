"""One Pod's life on the local node, in its own thread: create the container (environment, command,
termination-message file), supervise it (activeDeadlineSeconds, graceful deletion, restartPolicy), write
each status change, and finalise the deletion as a kubelet does."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubeasset.cluster.kubelet import cri_log
from kubeasset.cluster.kubelet.container import ContainerProcess, TerminationFile
from kubeasset.cluster.kubelet.environment import api_server_environment, container_command, container_environment
from kubeasset.cluster.kubelet.kube_client import JsonObject, KubeClient
from kubeasset.cluster.kubelet.status import (
    DEADLINE_MESSAGE,
    DEADLINE_REASON,
    ContainerRun,
    PodRuntime,
    Waiting,
    build_pod_status,
)
from kubeasset.cluster.kubelet.termination import termination_message
from kubeasset.cluster.kubelet.tokens import MAX_TOKEN_AGE, PodTokens
from kubeasset.cluster.kubelet.volumes import Mount, prepare_volumes, refresh_volumes, remove_pod_volumes
from kubeasset.errors import ContainerConfigError, KubeletError

log = logging.getLogger("kubeasset.kubelet")

#: `python`, `python3`, `python3.11` (bare or with a path): the image's interpreter, played by this one.
_PYTHON = re.compile(r"python(3(\.\d+)?)?")
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
SHUTDOWN_REASON = "Terminated"
SHUTDOWN_MESSAGE = "Pod was terminated in response to the local kubelet stopping."
LOST_MESSAGE = "The container could not be located when the pod was terminated"
#: Environment variables of the kubelet's own process that containers inherit; everything else comes
#: from the Pod, as in a container. PYTHONPATH belongs to "the local Python environment" that stands in
#: for the image.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
_TICK = 0.2
#: How often a running container's written volumes (configMap, secret, downwardAPI, projected) are synced
#: with their sources, as the kubelet's periodic sync does; token renewals and label changes come sooner.
VOLUME_SYNC_SECONDS = 60.0


@dataclass(frozen=True)
class NodeContext:
    """What every Pod worker of one kubelet shares."""

    api: KubeClient
    node_name: str
    folder: Path
    use_sandbox: bool
    shutdown_grace_seconds: float = 5.0
    restart_backoff_seconds: float = 10.0
    #: variables of "the local environment standing in for the image", over the inherited ones
    #: (``kubeasset dev`` puts the code folder on PYTHONPATH here)
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: projected service-account tokens are renewed at 80% of their lifetime or at this age
    token_max_age: timedelta = MAX_TOKEN_AGE


class PodWorker(threading.Thread):
    """Runs one Pod (by uid) until it ends and its deletion is finalised, or the kubelet stops."""

    def __init__(self, node: NodeContext, pod: JsonObject) -> None:
        metadata = pod["metadata"]
        super().__init__(name=f"pod-{metadata['namespace']}/{metadata['name']}", daemon=True)
        self.node = node
        self.uid: str = metadata["uid"]
        self.namespace: str = metadata["namespace"]
        self.pod_name: str = metadata["name"]
        self.container_name: str = pod["spec"]["containers"][0]["name"]
        self._pod = pod
        self._changed = threading.Event()
        self._gone = False
        self._stopping = False
        self._written: JsonObject | None = None
        #: the status as the API server returned it after our last write (transition times to keep)
        self._stored_status: JsonObject | None = None
        self._deadline_hit = False
        self._process: ContainerProcess | None = None
        self._warned_volumes = False
        self._tokens = PodTokens(node.api, self.namespace, self.pod_name, self.uid, max_age=node.token_max_age)
        self._volumes_synced_at: datetime | None = None
        self.running = False
        self.runtime: PodRuntime | None = None

    # -- called from the kubelet's threads -------------------------------------------------------------

    def update(self, pod: JsonObject) -> None:
        before = self._pod["metadata"]
        self._pod = pod
        if (before.get("labels"), before.get("annotations")) != (
            pod["metadata"].get("labels"),
            pod["metadata"].get("annotations"),
        ):
            self._volumes_synced_at = None  # downwardAPI files show labels and annotations: sync them now
        self._changed.set()

    def forget(self) -> None:
        """The Pod was removed from the API (force deletion): stop at once, write nothing."""
        self._gone = True
        self._changed.set()

    def shutdown(self) -> None:
        """The kubelet stops: stop the container within the shutdown grace period and write the result."""
        self._stopping = True
        self._changed.set()

    def kill_container(self) -> None:
        """SIGKILL the container's processes now, whatever the worker is doing (last resort on stop)."""
        process = self._process
        if process is not None and not process.finished:
            process.kill_now()

    def log_file(self, restart_count: int) -> Path:
        return self.pod_log_dir(self.node.folder, self.namespace, self.pod_name, self.uid) / (
            f"{self.container_name}/{restart_count}.log"
        )

    @staticmethod
    def pod_log_dir(folder: Path, namespace: str, name: str, uid: str) -> Path:
        """Like /var/log/pods/<namespace>_<name>_<uid>."""
        return folder / "pods" / f"{namespace}_{name}_{uid}"

    # -- the worker thread -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except KubeletError as error:
            if not (self._stopping or self._gone):
                log.error("pod %s/%s: %s", self.namespace, self.pod_name, error)
        finally:
            self.running = False
            if self._gone or (self._deleting() and not self._stopping):
                # emptyDir, configMap and secret volumes go with their Pod; claims stay
                remove_pod_volumes(self.node.folder, self.uid)

    def _run(self) -> None:
        pod = self._pod
        start_time = _parse_time(pod.get("status", {}).get("startTime")) or datetime.now(UTC)
        image_id = f"kubeasset-local://{sys.executable}"
        self.runtime = PodRuntime(start_time=start_time, image_id=image_id, waiting=Waiting("ContainerCreating"))
        earlier = _earlier_run(pod)
        if earlier is not None:
            # Started by an earlier kubelet whose processes died with it: report it lost, like a kubelet
            # that finds no container for a Pod it had started.
            self.runtime = dataclasses.replace(self.runtime, waiting=None, current=earlier)
        else:
            self._write_status()
            self._run_container()
        if self._gone:
            return
        self._write_status()
        if self._stopping:
            return
        while not (self._deleting() or self._gone or self._stopping):
            self._wait()
        if self._deleting() and not (self._gone or self._stopping):
            self._finalise_deletion()

    def _run_container(self) -> None:
        pod = self._pod
        container = pod["spec"]["containers"][0]
        policy = pod["spec"].get("restartPolicy", "Always")
        # A container that cannot be set up yet (a ConfigMap not there yet, such as kube-root-ca.crt in a
        # namespace created a moment ago) is retried soon, then less and less often, like a failed mount.
        setup_retry = 0.25
        while True:
            if self._deleting() or self._gone or self._stopping:
                return
            if self._deadline_passed():
                self._set(pod_reason=DEADLINE_REASON, pod_message=DEADLINE_MESSAGE)
                return
            try:
                process, run, termination = self._start(self._pod, container)
            except ContainerConfigError as error:
                self._set(waiting=Waiting(error.reason, str(error)))
                self._write_status()
                setup_retry = min(setup_retry * 2, 8.0)
                self._wait(setup_retry)
                continue
            self._set(current=run, waiting=None)
            self.running = True  # before the status says Running: `kubectl logs -f` may follow at once
            self._write_status()
            run = self._supervise(process, run, container, termination)
            self.running = False
            self._set(current=run)
            if self._deadline_hit:
                self._set(pod_reason=DEADLINE_REASON, pod_message=DEADLINE_MESSAGE)
                return
            if self._stopping:
                self._set(pod_reason=SHUTDOWN_REASON, pod_message=SHUTDOWN_MESSAGE)
                return
            assert run.exit_code is not None
            if self._deleting() or policy == "Never" or (policy == "OnFailure" and run.exit_code == 0):
                return
            self._back_off(run)

    def _start(self, pod: JsonObject, container: Mapping[str, Any]) -> tuple[ContainerProcess, ContainerRun, Path]:
        environment = container_environment(pod, container, self._lookup)
        argv = container_command(container, environment)
        if _PYTHON.fullmatch(Path(argv[0]).name):
            argv[0] = sys.executable
        assert self.runtime is not None
        instance = self.runtime.restart_count
        container_dir = self.node.folder / "containers" / self.uid / f"{self.container_name}-{instance}"
        container_dir.mkdir(parents=True, exist_ok=True)
        host_file = container_dir / "termination-log"
        host_file.write_bytes(b"")
        env = {name: value for name in INHERITED_ENV if (value := os.environ.get(name)) is not None}
        env.update(self.node.environment)
        env["HOSTNAME"] = self.pod_name
        # the `kubernetes` Service's variables, which every container gets; the Pod's own env may override
        env.update(api_server_environment(self.node.api.server))
        termination: TerminationFile | None = None
        path = container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH
        if self.node.use_sandbox:
            termination = TerminationFile(path, host_file, container_dir / "mounts")
        else:
            # No mount namespace here: the kubeasset runner honours this variable instead of the path.
            env["KUBEASSET_TERMINATION_LOG"] = str(host_file)
        env.update(environment)
        if not self.node.use_sandbox and container.get("volumeMounts") and not self._warned_volumes:
            self._warned_volumes = True
            log.warning(
                "pod %s/%s: volumes are not mounted (no private mount namespaces here, needs root); the "
                "container sees the host's paths at its mountPaths",
                self.namespace,
                self.pod_name,
            )
        workdir = Path(container.get("workingDir") or container_dir / "root")
        try:
            mounts: list[Mount] = []
            if self.node.use_sandbox:
                mounts = prepare_volumes(self.node.folder, pod, container, self._lookup, self._tokens.token)
                self._volumes_synced_at = datetime.now(UTC)
            workdir.mkdir(parents=True, exist_ok=True)
            # the Pod's name (truncated as the kubelet does), unless the Pod asks for the node's network
            hostname = (
                None if pod["spec"].get("hostNetwork") else str(pod["spec"].get("hostname") or self.pod_name)[:63]
            )
            process = self._process = ContainerProcess(
                argv, env, workdir, self.log_file(instance), termination, mounts, hostname
            )
        except OSError as error:
            # what a runtime reports when it cannot start the process (the kubelet retries)
            raise ContainerConfigError(
                f"failed to start container {self.container_name!r}: {error}", reason="RunContainerError"
            ) from error
        run = ContainerRun(container_id=f"kubeasset-local://{uuid.uuid4().hex}", started_at=datetime.now(UTC))
        log.info("pod %s/%s: started %s (pid %d)", self.namespace, self.pod_name, argv, process.pid)
        return process, run, host_file

    def _supervise(
        self, process: ContainerProcess, run: ContainerRun, container: Mapping[str, Any], termination_file: Path
    ) -> ContainerRun:
        spec = self._pod["spec"]
        self._deadline_hit = False
        while not process.finished:
            process.pump(_TICK)
            metadata = self._pod["metadata"]
            if self._gone:
                process.stop(0)
            elif self._stopping:
                process.stop(min(self.node.shutdown_grace_seconds, _grace(spec)))
            elif metadata.get("deletionTimestamp"):
                process.stop(float(metadata.get("deletionGracePeriodSeconds", _grace(spec))))
            elif self._deadline_passed() and not self._deadline_hit:
                self._deadline_hit = True
                log.info("pod %s/%s: activeDeadlineSeconds passed", self.namespace, self.pod_name)
                process.stop(_grace(spec))
            elif self.node.use_sandbox and self._volume_sync_due():
                self._sync_volumes(container)
        exit_code = process.exit_code
        try:
            content = termination_file.read_bytes()
        except OSError:
            content = b""
        log_text = b""
        if not content.strip() and exit_code != 0:
            log_text = container_log_text(self.log_file(self.runtime.restart_count if self.runtime else 0))
        message = termination_message(content, container.get("terminationMessagePolicy"), exit_code, log_text)
        log.info("pod %s/%s: container exited with code %d", self.namespace, self.pod_name, exit_code)
        return dataclasses.replace(run, finished_at=datetime.now(UTC), exit_code=exit_code, message=message)

    def _back_off(self, run: ContainerRun) -> None:
        assert self.runtime is not None
        restarts = self.runtime.restart_count
        delay = min(self.node.restart_backoff_seconds * 2 ** min(restarts, 16), 300.0)  # 2**1024 overflows a float
        self._set(
            waiting=Waiting(
                "CrashLoopBackOff",
                f"back-off {delay:.0f}s restarting failed container={self.container_name} "
                f"pod={self.pod_name}_{self.namespace}({self.uid})",
            )
        )
        self._write_status()
        self._wait(delay)
        self._set(previous=run, current=None, restart_count=restarts + 1, waiting=Waiting("ContainerCreating"))

    # -- helpers ---------------------------------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        assert self.runtime is not None
        self.runtime = dataclasses.replace(self.runtime, **changes)

    def _wait(self, seconds: float = 5.0) -> None:
        self._changed.wait(seconds)
        self._changed.clear()

    def _volume_sync_due(self) -> bool:
        now = datetime.now(UTC)
        if self._volumes_synced_at is None:
            return True
        due = self._volumes_synced_at + timedelta(seconds=VOLUME_SYNC_SECONDS)
        token_due = self._tokens.next_refresh()
        return now >= (due if token_due is None else min(due, token_due))

    def _sync_volumes(self, container: Mapping[str, Any]) -> None:
        self._volumes_synced_at = datetime.now(UTC)
        try:
            changed = refresh_volumes(self.node.folder, self._pod, container, self._lookup, self._tokens.token)
        except KubeletError as error:  # the API server is unreachable: the files stay, the next sync retries
            log.warning("pod %s/%s: volumes not synced: %s", self.namespace, self.pod_name, error)
            return
        if changed:
            log.info("pod %s/%s: volumes %s updated", self.namespace, self.pod_name, ", ".join(changed))

    def _deleting(self) -> bool:
        return bool(self._pod["metadata"].get("deletionTimestamp"))

    def _deadline_passed(self) -> bool:
        seconds = self._pod["spec"].get("activeDeadlineSeconds")
        if seconds is None or self.runtime is None:
            return False
        return datetime.now(UTC) >= self.runtime.start_time + timedelta(seconds=int(seconds))

    def _lookup(self, kind: str, namespace: str, name: str) -> JsonObject | None:
        try:
            return self.node.api.get(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
        except KubeletError as error:
            if error.status == 404:
                return None
            raise ContainerConfigError(f"cannot read {kind} {namespace}/{name}: {error}") from error

    def _write_status(self) -> None:
        assert self.runtime is not None
        pod = self._pod
        if self._stored_status is not None:
            pod = {**pod, "status": self._stored_status}
        status = build_pod_status(pod, self.runtime, datetime.now(UTC))
        if status == self._written:
            return
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}/status"
        retry = 0.2
        while True:
            try:
                # the uid makes the patch fail on a newer Pod of the same name instead of overwriting it
                updated = self.node.api.merge_patch(path, {"metadata": {"uid": self.uid}, "status": status})
                break
            except KubeletError as error:
                if error.status == 404:
                    self._gone = True
                    return
                # Like a kubelet's status manager, keep the status and write it again while the API server is
                # away (restarting, overloaded): a lost "container exited" would leave the Pod Running forever.
                transient = error.status is None or error.status == 429 or error.status >= 500
                if not transient or self._gone or self._stopping:
                    raise
                log.warning(
                    "pod %s/%s: status not written, again in %.1fs: %s", self.namespace, self.pod_name, retry, error
                )
                self._wait(retry)
                retry = min(retry * 2, 2.0)
        self._written = status
        self._stored_status = updated.get("status", status)

    def _finalise_deletion(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}"
        try:
            self.node.api.delete(path, {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}})
        except KubeletError as error:
            if error.status not in (404, 409):
                raise
        log.info("pod %s/%s: deleted", self.namespace, self.pod_name)


def container_log_text(log_file: Path) -> bytes:
    """A container's output as `kubectl logs` shows it (no timestamps)."""
    try:
        lines = log_file.read_bytes().splitlines(keepends=True)
    except OSError:
        return b""
    records = [record for line in lines if (record := cri_log.parse_record(line)) is not None]
    return b"".join(cri_log.render(records, cri_log.LogQuery()))


def _grace(spec: Mapping[str, Any]) -> float:
    return float(spec.get("terminationGracePeriodSeconds", 30))


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _earlier_run(pod: Mapping[str, Any]) -> ContainerRun | None:
    """The container an earlier kubelet started for ``pod`` and never saw end, if any."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        running = status.get("state", {}).get("running")
        if running and status.get("containerID"):
            now = datetime.now(UTC)
            return ContainerRun(
                container_id=status["containerID"],
                started_at=_parse_time(running.get("startedAt")) or now,
                finished_at=now,
                exit_code=137,
                reason="ContainerStatusUnknown",
                message=LOST_MESSAGE,
            )
    return None
