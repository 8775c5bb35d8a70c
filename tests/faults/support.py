"""What the fault tests share: the fault control plane's timing, the controller and the local kubelet as
processes that can really be killed (SIGKILL), the set-up every test starts from (FaultSite: both processes
on the module's node, the code location and its jobs), manifests over the trivial assets of fault_code/, and
a recorder that keeps every run Pod ever created and every status of every run through watches that survive
an apiserver restart.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kubeasset.cluster.control_plane import NodeFailureTiming
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.cluster.processes import ManagedProcess
from tests.integration.controller.conftest import GROUP, VERSION, code_location, create, wait_for_condition
from tests.integration.watch_recorder import RUN_POD_SELECTOR, WatchRecorder

#: A Node silent for 8 s is Unknown; its Pods' default toleration of that lasts 2 s; the node controller
#: looks every second. Kubelets here renew their Lease every second (HEARTBEAT_SECONDS), so a live one
#: never comes near the grace period, even on a loaded 2-core machine.
FAULT_TIMING = NodeFailureTiming(monitor_grace_seconds=8, toleration_seconds=2, monitor_period_seconds=1)
HEARTBEAT_SECONDS = 1.0
FAULT_CODE = Path(__file__).parent / "fault_code"
FAULT_MODULE = "fault_assets"
FINAL_PHASES = frozenset({"Succeeded", "Failed", "Canceled"})
#: Tolerations that keep a job's Pods on a node that stops reporting: in the tests that are not about a dead
#: node, an apiserver restart must not look like one to the node lifecycle controller and evict Pods.
TOLERATE_NODE_FAILURE = [
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
]


# --- manifests ---------------------------------------------------------------------------------------


def fault_location(name: str, node: str, storage: Path) -> dict[str, Any]:
    """A CodeLocation over fault_code/fault_assets.py whose Pods run on ``node``."""
    return code_location(name, FAULT_MODULE, FAULT_CODE, node=node, storage={"url": str(storage)})


def fault_job(
    name: str,
    location: str,
    group: str,
    *,
    max_concurrent_runs: int | None = None,
    env: dict[str, str] | None = None,
    tolerate_node_failure: bool = True,
) -> dict[str, Any]:
    pod: dict[str, Any] = {}
    if env:
        pod["env"] = [{"name": key, "value": value} for key, value in env.items()]
    if tolerate_node_failure:
        pod["tolerations"] = TOLERATE_NODE_FAILURE
    spec: dict[str, Any] = {"codeLocation": location, "selection": f"group:{group}", "pod": pod}
    if max_concurrent_runs is not None:
        spec["maxConcurrentRuns"] = max_concurrent_runs
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetJob", "metadata": {"name": name}, "spec": spec}


def run_manifest(name: str, job: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetRun", "metadata": {"name": name}, "spec": {"job": job}}


def phase(run: dict[str, Any] | None) -> str | None:
    found = ((run or {}).get("status") or {}).get("phase")
    return str(found) if found is not None else None


def asset_states(run: dict[str, Any] | None) -> dict[str, str]:
    entries = ((run or {}).get("status") or {}).get("assets") or ()
    return {entry["key"]: entry.get("state", "Pending") for entry in entries}


def list_runs(custom: client.CustomObjectsApi, namespace: str) -> dict[str, dict[str, Any]]:
    listed: dict[str, Any] = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "assetruns")
    return {item["metadata"]["name"]: item for item in listed["items"]}


def wait_until(condition: Callable[[], bool], what: Callable[[], str], timeout: float, poll: float = 0.5) -> None:
    """Poll ``condition`` (API errors of a restarting apiserver count as "not yet"); fail with ``what()``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (ApiException, HTTPError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what()}")
        time.sleep(poll)


def processes_with_env(entry: str) -> list[int]:
    """Pids of live processes whose environment holds ``entry`` (``KUBEASSET_RUN_NAME=x``): a run's Pod."""
    wanted = entry.encode() + b"\0"
    found = []
    for folder in Path("/proc").iterdir():
        if not folder.name.isdigit():
            continue
        try:
            environ = (folder / "environ").read_bytes() + b"\0"
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if b"\0" + wanted in b"\0" + environ:
            found.append(int(folder.name))
    return found


# --- processes ---------------------------------------------------------------------------------------


class _Process:
    """A child process whose output goes to ``log``; kill() is SIGKILL, no clean-up of any kind. It runs as a
    ManagedProcess: it dies with the test process, even if that is killed."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        self.command = command
        self.process = self._spawn()

    def _spawn(self) -> ManagedProcess:
        return ManagedProcess(Path(self.command[2]).name, self.command, self.log)

    @property
    def alive(self) -> bool:
        return self.process.exit_code() is None

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop(grace_seconds=20)

    def tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)


class ControllerProcess(_Process):
    """``python -m kubeasset.controller`` for one namespace (no leader election: one replica, and a killed
    leader's Lease would only delay the restart), startable again after a kill."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path) -> None:
        command = [sys.executable, "-m", "kubeasset.controller", "--kubeconfig", str(kubeconfig)]
        super().__init__([*command, "--namespace", namespace, "--no-leader-elect"], log)
        self.starts = 1

    def restart(self) -> None:
        """Start it again (after kill() or stop())."""
        assert not self.alive, "the controller still runs"
        with self.log.open("a") as output:
            output.write(f"\n===== restart #{self.starts} =====\n")
        self.process = self._spawn()
        self.starts += 1


class KubeletProcess(_Process):
    """``python -m kubeasset.cluster.kubelet`` on node ``node``, its Lease renewed every HEARTBEAT_SECONDS."""

    def __init__(self, kubeconfig: Path, folder: Path, node: str, log: Path) -> None:
        command = [sys.executable, "-m", "kubeasset.cluster.kubelet", "--kubeconfig", str(kubeconfig)]
        command += ["--dir", str(folder), "--node-name", node, "--heartbeat-seconds", str(HEARTBEAT_SECONDS)]
        super().__init__(command, log)
        deadline = time.monotonic() + 60
        while f"kubelet {node} ready" not in self.tail(200):
            if not self.alive or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the kubelet for {node} did not start:\n{self.tail()}")
            time.sleep(0.2)


@contextmanager
def local_kubelet(api_client: client.ApiClient, kubeconfig: Path, folder: Path, node: str) -> Iterator[LocalKubelet]:
    """An in-process kubelet on ``node`` with the fast heartbeat; its Node is deleted afterwards, so that a
    stopped kubelet's Node does not stay behind NotReady."""
    with LocalKubelet(kubeconfig, folder, node, restart_backoff_seconds=0.5, heartbeat_seconds=HEARTBEAT_SECONDS) as k:
        yield k
    delete_node(api_client, node)


def delete_node(api_client: client.ApiClient, node: str) -> None:
    try:
        client.CoreV1Api(api_client).delete_node(node)
    except ApiException as error:
        if error.status != 404:
            raise


@dataclass
class FaultSite:
    """What a fault test starts from (the ``fault_site`` fixture of conftest.py): a KubeletProcess playing
    ``node`` and a ControllerProcess for ``namespace``, both killable; ``folder`` is the test's own.

    Example::

        def test_something(fault_site: FaultSite) -> None:
            fault_site.deploy("loc", fault_job("pair", "loc", "pair"))
            fault_site.controller.kill()
    """

    api_client: client.ApiClient
    custom: client.CustomObjectsApi
    namespace: str
    node: str
    folder: Path
    kubelet: KubeletProcess
    controller: ControllerProcess

    def deploy(self, location: str, *jobs: dict[str, Any]) -> None:
        """Create the CodeLocation ``location`` over fault_code/ with its Pods on ``node`` (values stored under
        ``folder``/storage) and the AssetJobs ``jobs``; return once every job is Ready."""
        create(self.custom, self.namespace, fault_location(location, self.node, self.folder / "storage"))
        for job in jobs:
            create(self.custom, self.namespace, job)
        for job in jobs:
            wait_for_condition(self.custom, self.namespace, "assetjobs", job["metadata"]["name"], "True", timeout=90)

    def create_run(self, name: str, job: str) -> None:
        create(self.custom, self.namespace, run_manifest(name, job))

    def runs(self) -> dict[str, dict[str, Any]]:
        """The namespace's AssetRuns by name."""
        return list_runs(self.custom, self.namespace)

    def phase_counts(self, *, by_job: bool = False) -> dict[str, int]:
        """How many runs are in each phase (``job:phase`` keys with ``by_job``): what a timeout shows."""
        counts: dict[str, int] = {}
        for run in self.runs().values():
            key = f"{run['spec']['job']}:{phase(run)}" if by_job else str(phase(run))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def log_tails(self) -> list[tuple[str, str]]:
        """(title, end of the log) of both processes: what a failing test's report shows."""
        return [("controller log (tail)", self.controller.tail()), ("kubelet log (tail)", self.kubelet.tail())]


# --- recording ---------------------------------------------------------------------------------------


class FaultRecorder(WatchRecorder):
    """Watches a namespace's run Pods and AssetRuns in background threads and keeps every change: the uid of
    every run Pod ever seen (by name), the most unfinished run Pods alive at once (by job), and every status of
    every run, in order. A watch that breaks (apiserver restarted, 410 Gone) lists again and carries on; the
    list shows any Pod created in the gap, since run Pods stay until their run is deleted.

    Example::

        with FaultRecorder(api_client, namespace) as recorder:
            ...
        assert recorder.pod_uids("run-1") == {uid}
    """

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        loops = {
            "pods": partial(self._loop, self._list_pods, self._watch_pods),
            "runs": partial(self._loop, self._list_runs, self._watch_runs),
        }
        super().__init__(api_client, namespace, loops, ready_timeout=20)
        self._uids: dict[str, set[str]] = {}
        self._statuses: dict[str, list[dict[str, Any]]] = {}
        self.restarts = 0

    def pod_uids(self, name: str) -> set[str]:
        with self._lock:
            return set(self._uids.get(name, ()))

    def pods_by_name(self) -> dict[str, set[str]]:
        with self._lock:
            return {name: set(uids) for name, uids in self._uids.items()}

    def statuses(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._statuses.get(name, []))

    def _loop(self, lister: Callable[[], str], watcher: Callable[[str], str], ready: threading.Event) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = lister()
                    ready.set()
                version = watcher(version)
            except ApiException as error:
                if error.status == 410:
                    version = None  # too old after a restart: list again
                with self._lock:
                    self.restarts += 1
                time.sleep(0.3)
            except HTTPError:
                with self._lock:
                    self.restarts += 1
                time.sleep(0.3)

    def _list_pods(self) -> str:
        listed = self.core.list_namespaced_pod(self.namespace, label_selector=RUN_POD_SELECTOR)
        for pod in listed.items:
            self._pod_event("LISTED", pod)
        return str(listed.metadata.resource_version)

    def _watch_pods(self, version: str) -> str:
        for kind, pod, seen in self._stream_pods(version, timeout_seconds=5):
            self._pod_event(kind, pod)
            version = seen
        return version

    def _pod_event(self, kind: str, pod: Any) -> None:
        with self._lock:
            self._uids.setdefault(pod.metadata.name, set()).add(pod.metadata.uid)
            self._count_alive(kind, pod)

    def _list_runs(self) -> str:
        listed: Any = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "assetruns")
        for run in listed["items"]:
            self._run_event(run)
        return str(listed["metadata"]["resourceVersion"])

    def _watch_runs(self, version: str) -> str:
        for _, run, seen in self._stream_runs(version, timeout_seconds=5):
            self._run_event(run)
            version = seen
        return version

    def _run_event(self, run: dict[str, Any]) -> None:
        with self._lock:
            seen = self._statuses.setdefault(run["metadata"]["name"], [])
            status = run.get("status") or {}
            if not seen or seen[-1] != status:
                seen.append(status)
