"""LocalKubelet: a node for the local control plane that really runs Pods as local processes.

It registers a Node and keeps its Lease fresh, plays the scheduler for Pods nobody has bound (binding them
to itself), runs each of its Pods' first container from the local Python environment, writes Pod status
as a kubelet does, and serves container logs to the API server so `kubectl logs` works unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from kubeasset.cluster.kubelet import node, scheduling
from kubeasset.cluster.kubelet.container import sandbox_available
from kubeasset.cluster.kubelet.informer import Informer
from kubeasset.cluster.kubelet.kube_client import JsonObject, KubeClient
from kubeasset.cluster.kubelet.log_server import LogNotFound, LogServer, LogSource
from kubeasset.cluster.kubelet.pod_worker import NodeContext, PodWorker
from kubeasset.cluster.kubelet.tokens import MAX_TOKEN_AGE
from kubeasset.cluster.pki import CertificateAuthority
from kubeasset.errors import KubeletError

log = logging.getLogger("kubeasset.kubelet")

DEFAULT_NODE_NAME = "kubeasset-local"
DEFAULT_SCHEDULER = "default-scheduler"


class LocalKubelet:
    """Run with ``with LocalKubelet(kubeconfig, folder): ...`` or start()/stop().

    >>> with LocalKubelet(Path("admin.kubeconfig"), Path("/tmp/kubelet")) as kubelet:  # doctest: +SKIP
    ...     ...  # Pods created now run as local processes; kubectl logs works
    """

    def __init__(
        self,
        kubeconfig: Path,
        folder: Path,
        node_name: str = DEFAULT_NODE_NAME,
        *,
        shutdown_grace_seconds: float = 5.0,
        restart_backoff_seconds: float = 10.0,
        heartbeat_seconds: float = node.LEASE_RENEW_SECONDS,
        startup_timeout: float = 60.0,
        mount_namespaces: bool | None = None,
        environment: Mapping[str, str] | None = None,
        token_max_age: timedelta = MAX_TOKEN_AGE,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.folder = folder.resolve()
        self.node_name = node_name
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.restart_backoff_seconds = restart_backoff_seconds
        #: how often the node's Lease is renewed (fault tests: well under the node monitor grace period)
        self.heartbeat_seconds = heartbeat_seconds
        self.startup_timeout = startup_timeout
        self._stop = threading.Event()
        self._workers: dict[str, PodWorker] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._api: KubeClient | None = None
        self._log_server: LogServer | None = None
        self._context: NodeContext | None = None
        #: None: use private mount namespaces when this machine allows them (root)
        self._mount_namespaces = mount_namespaces
        #: set in every container over the kubelet's own PATH, PYTHONPATH, ... (the "image" environment)
        self.environment = dict(environment or {})
        self.uses_mount_namespaces = False
        #: projected service-account tokens are renewed at 80% of their lifetime or at this age (a day)
        self.token_max_age = token_max_age
        #: set by whoever wants the kubelet stopped from a signal handler (the command line)
        self.stop_requested = threading.Event()

    @property
    def port(self) -> int:
        """The HTTPS port of the kubelet endpoint (container logs)."""
        if self._log_server is None:
            raise KubeletError("the kubelet is not started")
        return self._log_server.port

    def start(self) -> LocalKubelet:
        """Register the node and start watching Pods; returns once the first Pod list was handled."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self._stop.is_set() or self._threads:
            raise KubeletError("a LocalKubelet runs once: create a new one to start again")
        self.folder.mkdir(parents=True, exist_ok=True)
        api = self._api = KubeClient.from_kubeconfig(self.kubeconfig)
        self.uses_mount_namespaces = sandbox_available() if self._mount_namespaces is None else self._mount_namespaces
        if not self.uses_mount_namespaces:
            log.warning(
                "no private mount namespaces here (needs root): containers get KUBEASSET_TERMINATION_LOG "
                "instead of a file at their terminationMessagePath, and Pod volumes are not mounted"
            )
        self._context = NodeContext(
            api,
            self.node_name,
            self.folder,
            self.uses_mount_namespaces,
            self.shutdown_grace_seconds,
            self.restart_backoff_seconds,
            self.environment,
            self.token_max_age,
        )
        ca = CertificateAuthority.create(self.folder / "pki", f"{self.node_name}-kubelet-ca")
        serving = ca.issue("kubelet", common_name=self.node_name, hosts=("127.0.0.1", "localhost"), server=True)
        self._log_server = LogServer(api, self.node_name, self._locate, serving.cert, serving.key)
        self._log_server.start()
        node.register(api, self.node_name, self._log_server.port)
        node_uid = str(api.get(f"/api/v1/nodes/{self.node_name}")["metadata"]["uid"])
        node.renew_lease(api, self.node_name, node_uid)
        self._spawn("kubelet-heartbeat", lambda: self._heartbeat(node_uid))
        informer = Informer(api, "/api/v1/pods", self._on_pod, self._stop, on_listed=self._on_listed)
        self._spawn("kubelet-pod-informer", informer.run)
        if not informer.synced.wait(self.startup_timeout):
            raise KubeletError(f"the kubelet could not list Pods within {self.startup_timeout:.0f}s")
        log.info("kubelet %s ready; logs endpoint on 127.0.0.1:%d", self.node_name, self._log_server.port)

    def stop(self) -> None:
        """Stop every container (SIGTERM, SIGKILL after the shutdown grace), write their final status,
        and stop serving; leaves no process behind. Safe to call more than once."""
        self._stop.set()
        if self._api is not None:
            self._api.close_streams()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join(timeout=self.shutdown_grace_seconds + 30)
            # a worker stuck in an API call must not leave its container behind
            worker.kill_container()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        if self._log_server is not None:
            self._log_server.stop()
            self._log_server = None

    def __enter__(self) -> LocalKubelet:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- threads ---------------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _heartbeat(self, node_uid: str) -> None:
        assert self._api is not None and self._log_server is not None
        since_status = 0.0
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                node.renew_lease(self._api, self.node_name, node_uid)
                since_status += self.heartbeat_seconds
                if since_status >= node.STATUS_REFRESH_SECONDS:
                    since_status = 0.0
                    current = self._api.get(f"/api/v1/nodes/{self.node_name}")
                    node.post_status(self._api, self.node_name, self._log_server.port, current.get("status"))
            except KubeletError as error:
                log.warning("node heartbeat failed: %s", error)

    def _on_pod(self, event: str, pod: JsonObject) -> None:
        """Informer callback: dispatch one Pod change (never raises; errors are logged)."""
        try:
            self._dispatch(event, pod)
        except KubeletError as error:
            metadata = pod.get("metadata", {})
            log.warning("pod %s/%s: %s", metadata.get("namespace"), metadata.get("name"), error)

    def _on_listed(self, uids: set[str]) -> None:
        """After a re-list: Pods removed while the watch was down get no DELETED event; forget them now."""
        with self._lock:
            vanished = [self._workers.pop(uid) for uid in list(self._workers) if uid not in uids]
        for worker in vanished:
            worker.forget()

    def _dispatch(self, event: str, pod: JsonObject) -> None:
        assert self._api is not None and self._context is not None
        metadata, spec = pod["metadata"], pod.get("spec", {})
        uid = metadata["uid"]
        if event == "DELETED":
            with self._lock:
                worker = self._workers.pop(uid, None)
            if worker is not None:
                worker.forget()
            return
        node_name = spec.get("nodeName")
        if not node_name:
            if spec.get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER and not metadata.get(
                "deletionTimestamp"
            ):
                self._bind(pod)
            return
        if node_name != self.node_name:
            return
        with self._lock:
            worker = self._workers.get(uid)
            if worker is None and not self._stop.is_set():
                phase = pod.get("status", {}).get("phase")
                if phase in ("Succeeded", "Failed"):
                    if metadata.get("deletionTimestamp"):
                        self._finalise(pod)
                    return
                worker = self._workers[uid] = PodWorker(self._context, pod)
                worker.start()
                return
        if worker is not None:
            worker.update(pod)

    def _bind(self, pod: JsonObject) -> None:
        assert self._api is not None
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if not scheduling.fits(pod, node.node_labels(self.node_name)):
            patch = scheduling.unschedulable_status(pod, datetime.now(UTC))
            if patch is not None:
                try:
                    self._api.merge_patch(f"/api/v1/namespaces/{namespace}/pods/{name}/status", patch)
                except KubeletError as error:
                    if error.status != 409:  # changed meanwhile: its next event decides again
                        raise
            return
        try:
            self._api.post(
                f"/api/v1/namespaces/{namespace}/pods/{name}/binding", scheduling.binding(pod, self.node_name)
            )
        except KubeletError as error:
            if error.status != 409:  # already bound (a second event for the same Pod)
                raise

    def _finalise(self, pod: JsonObject) -> None:
        assert self._api is not None
        metadata = pod["metadata"]
        try:
            self._api.delete(
                f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": metadata["uid"]}},
            )
        except KubeletError as error:
            if error.status not in (404, 409):
                raise

    # -- logs ------------------------------------------------------------------------------------------

    def _locate(self, namespace: str, pod: str, container: str, previous: bool) -> LogSource:
        with self._lock:
            workers = [w for w in self._workers.values() if (w.namespace, w.pod_name) == (namespace, pod)]
        if workers:
            worker = workers[-1]
            pod_dir = PodWorker.pod_log_dir(self.folder, namespace, pod, worker.uid)
        else:
            candidates = sorted(
                (self.folder / "pods").glob(f"{namespace}_{pod}_*"), key=lambda path: path.stat().st_mtime
            )
            if not candidates:
                raise LogNotFound(404, f'pod "{pod}" in namespace "{namespace}" has no logs on node {self.node_name}')
            worker, pod_dir = None, candidates[-1]
        instances = sorted(int(path.stem) for path in (pod_dir / container).glob("*.log"))
        if previous:
            if len(instances) < 2:
                raise LogNotFound(400, f'previous terminated container "{container}" in pod "{pod}" not found')
            return LogSource(pod_dir / container / f"{instances[-2]}.log", lambda: False)
        if not instances:
            raise LogNotFound(400, f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating')
        newest = instances[-1]
        if worker is not None and worker.container_name == container:
            live_worker = worker

            def live() -> bool:
                runtime = live_worker.runtime
                return live_worker.running and runtime is not None and runtime.restart_count == newest

            return LogSource(pod_dir / container / f"{newest}.log", live)
        return LogSource(pod_dir / container / f"{newest}.log", lambda: False)
