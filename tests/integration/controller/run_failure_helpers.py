"""Helpers shared by the AssetRun failure tests (tests/integration/controller/test_run_failures.py) and the
controller-restart test (tests/integration/controller_restart/): manifests of jobs and runs over the
failure_code module, reading a run's phase, reason and per-asset states, and recording every Pod and run
change through a watch (what polling would miss: a second Pod that lived briefly, a status that went back).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from tests.integration.controller.conftest import GROUP, VERSION, code_location, get
from tests.integration.watch_recorder import RUN_POD_SELECTOR, WatchRecorder

FAILURE_CODE = Path(__file__).parent / "failure_code"
FAILURE_MODULE = "failure_assets"
#: The states an asset of a finished run may be in: none may be left Pending or Running.
FINAL_ASSET_STATES = frozenset({"Materialized", "Failed", "Skipped", "Canceled"})
FINAL_PHASES = frozenset({"Succeeded", "Failed", "Canceled"})


def failure_location(name: str, node: str, storage: Path) -> dict[str, Any]:
    """A CodeLocation over failure_code/failure_assets.py whose Pods run on ``node``'s kubelet, with its
    values stored in ``storage`` (shared by all runs: a retry reads what the failed run materialized)."""
    return code_location(name, FAILURE_MODULE, FAILURE_CODE, node=node, storage={"url": str(storage)})


def job_manifest(
    name: str,
    location: str,
    group: str,
    *,
    env: dict[str, str] | None = None,
    pod: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An AssetJob running one group of failure_assets, with ``env`` in its Pods."""
    settings: dict[str, Any] = dict(pod or {})
    if env:
        settings["env"] = [{"name": key, "value": value} for key, value in env.items()]
    body: dict[str, Any] = {"codeLocation": location, "selection": f"group:{group}", **spec}
    if settings:
        body["pod"] = settings
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetJob", "metadata": {"name": name}, "spec": body}


def run_manifest(name: str, job: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetRun", "metadata": {"name": name}, "spec": {"job": job}}


def succeeded_condition(run: dict[str, Any] | None) -> dict[str, Any]:
    for entry in ((run or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == "Succeeded":
            return dict(entry)
    return {}


def phase(run: dict[str, Any] | None) -> str | None:
    found = ((run or {}).get("status") or {}).get("phase")
    return str(found) if found is not None else None


def reason(run: dict[str, Any] | None) -> str | None:
    found = succeeded_condition(run).get("reason")
    return str(found) if found is not None else None


def asset_states(run: dict[str, Any] | None) -> dict[str, str]:
    """Asset key -> state, in the status' order."""
    entries = ((run or {}).get("status") or {}).get("assets") or ()
    return {entry["key"]: entry.get("state", "Pending") for entry in entries}


def asset_entry(run: dict[str, Any], key: str) -> dict[str, Any]:
    for entry in (run.get("status") or {}).get("assets") or ():
        if entry["key"] == key:
            return dict(entry)
    raise AssertionError(f"asset {key!r} is not in the run's status: {run.get('status')}")


def wait_for_run(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    accept: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll the AssetRun until ``accept(run)``; fail with ``what`` and the last status seen."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while True:
        last = get(custom, namespace, "assetruns", name)
        if last is not None and accept(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {name}: {what} did not happen within {timeout:.0f}s; last status: {(last or {}).get('status')}"
            )
        time.sleep(0.2)


def wait_for_phase(
    custom: client.CustomObjectsApi, namespace: str, name: str, phases: Iterable[str], timeout: float = 60.0
) -> dict[str, Any]:
    wanted = set(phases)
    what = f"phase in {sorted(wanted)}"
    return wait_for_run(custom, namespace, name, lambda run: phase(run) in wanted, what, timeout)


def read_pod(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    """The Pod as a camelCase dict (what a kubelet or the controller reads), None when there is none."""
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    found: dict[str, Any] = core.api_client.sanitize_for_serialization(pod)
    return found


def wait_for_pod(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        pod = read_pod(core, namespace, name)
        if pod is not None:
            return pod
        if time.monotonic() > deadline:
            raise AssertionError(f"Pod {name} was not created within {timeout:.0f}s")
        time.sleep(0.2)


def pod_env(pod: dict[str, Any], variable: str) -> str | None:
    for item in pod["spec"]["containers"][0].get("env") or ():
        if item["name"] == variable:
            return str(item.get("value"))
    return None


def run_events(core: client.CoreV1Api, namespace: str, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events about the AssetRun ``name``."""
    listed = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=AssetRun"
    )
    return [(event.type or "", event.reason or "", event.message or "") for event in listed.items]


class Recorder(WatchRecorder):
    """Watches the run Pods and AssetRuns of a namespace in a background thread and keeps every change:
    each Pod ADDED (name, uid), the largest number of unfinished run Pods alive at once (per job label),
    and every status of every run in order.

    Example::

        with Recorder(api_client, namespace) as recorder:
            ...
        assert recorder.pods_added("run-1") == [uid]
    """

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        loops = {"pods": self._watch_pods, "runs": self._watch_runs}
        super().__init__(api_client, namespace, loops, ready_timeout=10)
        self.added: list[tuple[str, str]] = []
        self.statuses: dict[str, list[dict[str, Any]]] = {}

    def pods_added(self, name: str) -> list[str]:
        """The uids of the Pods named ``name`` that were ever created (while recording)."""
        with self._lock:
            return [uid for added, uid in self.added if added == name]

    def run_statuses(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.statuses.get(name, []))

    def _watch_pods(self, ready: threading.Event) -> None:
        listed = self.core.list_namespaced_pod(self.namespace, label_selector=RUN_POD_SELECTOR)
        ready.set()
        self._follow(self._stream_pods, listed.metadata.resource_version, self._pod_event)

    def _pod_event(self, kind: str, pod: Any) -> None:
        with self._lock:
            if kind == "ADDED":
                self.added.append((pod.metadata.name, pod.metadata.uid))
            self._count_alive(kind, pod)

    def _watch_runs(self, ready: threading.Event) -> None:
        runs: Any = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "assetruns")
        ready.set()
        self._follow(self._stream_runs, runs["metadata"]["resourceVersion"], self._run_event)

    def _run_event(self, _kind: str, run: dict[str, Any]) -> None:
        with self._lock:
            self.statuses.setdefault(run["metadata"]["name"], []).append(run.get("status") or {})

    def _follow(
        self,
        stream: Callable[[str | None, int], Iterator[tuple[str, Any, str]]],
        version: str | None,
        handle: Callable[[str, Any], None],
    ) -> None:
        """Watch from ``version`` until the recorder stops, again after a broken connection."""
        while not self._stop.is_set():
            try:
                for kind, obj, seen in stream(version, 2):
                    handle(kind, obj)
                    version = seen  # the next watch goes on from the last event
            except (ApiException, HTTPError) as error:
                if isinstance(error, ApiException) and error.status == 410:
                    raise  # the tests are short: a history compacted under the watch is a failure to report
                time.sleep(0.2)


def regressions(statuses: list[dict[str, Any]]) -> list[str]:
    """Where a run's recorded statuses went back: an asset leaving a final state, a final phase changing,
    or the phase going back (Running -> Starting)."""
    order = {"Pending": 0, "Starting": 1, "Running": 2, "Succeeded": 3, "Failed": 3, "Canceled": 3}
    found: list[str] = []
    final_assets: dict[str, str] = {}
    last_phase: str | None = None
    for number, status in enumerate(statuses):
        current = status.get("phase")
        if last_phase is not None and current is not None:
            if order.get(current, 0) < order.get(last_phase, 0):
                found.append(f"status #{number}: phase {last_phase} -> {current}")
            elif last_phase in FINAL_PHASES and current != last_phase:
                found.append(f"status #{number}: final phase {last_phase} -> {current}")
        last_phase = current or last_phase
        for entry in status.get("assets") or ():
            key, state = entry["key"], entry.get("state", "Pending")
            if key in final_assets and state != final_assets[key]:
                found.append(f"status #{number}: asset {key} {final_assets[key]} -> {state}")
            if state in FINAL_ASSET_STATES:
                final_assets.setdefault(key, state)
    return found
