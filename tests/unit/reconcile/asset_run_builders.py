"""Builders for the AssetRun planner tests: a Ready job and code location over the shop graph, runs as the
API server returns them, their Pods in each state, and a driver that applies plans the way the
controller does (status written back through the API models, so every planned status must validate)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeasset.api import AssetJob, AssetRun, CodeLocation
from kubeasset.api.assetrun import AssetRunStatus
from kubeasset.api.runs import RunPhase
from kubeasset.graph import AssetKey
from kubeasset.reconcile.asset_run import RunObservation, RunPlan, plan_asset_run
from kubeasset.reconcile.plan_items import Event
from kubeasset.reconcile.run_pod import RunPodDefaults, build_run_pod
from kubeasset.sdk.error_info import ErrorInfo
from kubeasset.sdk.events import AssetFailed, AssetMaterialized, AssetSkipped, AssetStarted
from kubeasset.selection import resolve_selection
from tests.unit.reconcile import run_pod_states as states
from tests.unit.reconcile.location_builders import make_location, shop_graph

NAMESPACE = "data"
JOB_NAME = "sales"
JOB_UID = "3c7a1f52-0000-4000-8000-00000000a001"
GRAPH_HASH = "sha256:5a1e"
#: The run Pod fixtures' times: created 05:00:00, container started 05:00:03, finished 05:00:15.
CREATED = datetime(2025, 3, 2, 5, 0, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 2, 5, 1, 0, tzinfo=UTC)
GRAPH = shop_graph()
KEYS = [key.to_user_string() for key in resolve_selection("*", GRAPH)]


def ready_condition(reason: str = "Resolved") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": "ready",
        "lastTransitionTime": "2025-03-01T08:00:00Z",
        "observedGeneration": 1,
    }


def location(*, ready: bool = True) -> CodeLocation:
    condition = ready_condition("Discovered") if ready else {**ready_condition("ImportFailed"), "status": "False"}
    if not ready:
        condition["message"] = "module 'shop' failed to import: No module named 'pandas'"
    return make_location(
        status={
            "observedGeneration": 1,
            "conditions": [condition],
            "assets": {"count": len(KEYS), "groups": ["raw", "sales"], "graphHash": GRAPH_HASH},
        }
    )


def job(*, keys: Sequence[str] = KEYS, ready: bool = True, graph_hash: str = GRAPH_HASH, **spec: Any) -> AssetJob:
    condition = ready_condition() if ready else {**ready_condition("InvalidSelection"), "status": "False"}
    return AssetJob.model_validate(
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetJob",
            "metadata": {"name": JOB_NAME, "namespace": NAMESPACE, "uid": JOB_UID, "generation": 1},
            "spec": {"codeLocation": "shop", "selection": "*", **spec},
            "status": {
                "observedGeneration": 1,
                "conditions": [condition],
                "assets": list(keys),
                "assetCount": len(keys),
                "graphHash": graph_hash,
            },
        }
    )


def run(
    name: str = "sales-1",
    *,
    created: datetime = CREATED,
    status: Mapping[str, Any] | None = None,
    labelled: bool = True,
    annotations: Mapping[str, str] | None = None,
    generation: int = 1,
    **spec: Any,
) -> AssetRun:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": f"uid-{name}",
        "generation": generation,
        "creationTimestamp": created.isoformat(),
    }
    if labelled:
        metadata["labels"] = {"kubeasset.dev/job": JOB_NAME}
    if annotations:
        metadata["annotations"] = dict(annotations)
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": metadata,
        "spec": spec if "codeLocation" in spec else {"job": JOB_NAME, **spec},
    }
    if status is not None:
        body["status"] = dict(status)
    return AssetRun.model_validate(body)


def observe(**fields: Any) -> RunObservation:
    """An observation with a Ready job and code location unless said otherwise."""
    fields.setdefault("job", job())
    fields.setdefault("location", location())
    return RunObservation(**fields)


def pod_of(
    the_run: AssetRun,
    status: Mapping[str, Any],
    *,
    keys: Sequence[str] = KEYS,
    the_job: AssetJob | None = None,
    deleting: bool = False,
    deadline: int | None = None,
) -> dict[str, Any]:
    """The run's Pod as built by build_run_pod, as the API server returns it with ``status``."""
    pod = build_run_pod(the_run, job=the_job or job(), location=location(), asset_keys=keys, settings=RunPodDefaults())
    pod["metadata"]["uid"] = f"pod-uid-{the_run.metadata.name}"
    pod["metadata"]["creationTimestamp"] = states.CREATED
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2025-03-02T05:00:14Z"
    if deadline is not None:
        pod["spec"]["activeDeadlineSeconds"] = deadline
    pod["status"] = copy.deepcopy(dict(status))
    return pod


def created_pod(manifest: Mapping[str, Any], now: datetime = NOW) -> dict[str, Any]:
    """The Pod of ``manifest`` as the API server returns it just after creating it at ``now``."""
    pod = copy.deepcopy(dict(manifest))
    pod["metadata"]["uid"] = f"pod-uid-{pod['metadata']['name']}"
    pod["metadata"]["creationTimestamp"] = now.isoformat().replace("+00:00", "Z")
    pod["status"] = {"phase": "Pending", "qosClass": "Burstable"}
    return pod


def with_status(the_run: AssetRun, status: AssetRunStatus) -> AssetRun:
    """``the_run`` with ``status`` written back, through JSON as the API server stores it."""
    body = the_run.to_json()
    body["status"] = status.to_json()
    return AssetRun.model_validate(body)


@dataclass
class Driver:
    """Plans one run again and again, writing each plan's status back, and collects the Events."""

    run: AssetRun
    events: list[Event]

    @classmethod
    def of(cls, the_run: AssetRun) -> Driver:
        return cls(the_run, [])

    def step(self, observed: RunObservation, now: datetime = NOW) -> RunPlan:
        plan = plan_asset_run(self.run, observed, now)
        self.events += plan.events
        self.run = with_status(self.run, plan.status)
        return plan

    def steady(self, observed: RunObservation, now: datetime = NOW) -> RunPlan:
        """Plan, then plan again from the same observation: the second plan must add nothing. After a plan
        that creates the Pod, the next observation has that Pod, as the API server returned it (the
        controller confirms a Pod missing from its cache with a GET), and still nothing changes."""
        plan = self.step(observed, now)
        if plan.pod_to_create is not None:
            observed = dataclasses.replace(observed, pod=created_pod(plan.pod_to_create, now))
        again = plan_asset_run(self.run, observed, now)
        assert again.events == (), f"replanning emitted {again.events}"
        assert again.status == self.run.status
        assert again.pod_to_create is None or plan.pod_to_create is not None
        assert again.retry_run is None or plan.retry_run is not None
        return plan

    def status(self) -> AssetRunStatus:
        assert self.run.status is not None
        return self.run.status

    def phase(self) -> RunPhase | None:
        return self.run.status.phase if self.run.status is not None else None

    def message(self) -> str:
        return (self.run.status.message if self.run.status is not None else None) or ""

    @property
    def reasons(self) -> list[str]:
        return [item.reason for item in self.events]


def at(seconds: float) -> datetime:
    """A moment ``seconds`` after the container started (05:00:03)."""
    return datetime(2025, 3, 2, 5, 0, 3, tzinfo=UTC) + timedelta(seconds=seconds)


def started(run_name: str, key: str, second: float) -> AssetStarted:
    return AssetStarted(run_name=run_name, asset_key=AssetKey.from_user_string(key), timestamp=at(second))


def materialized(run_name: str, key: str, second: float) -> AssetMaterialized:
    return AssetMaterialized(
        run_name=run_name, asset_key=AssetKey.from_user_string(key), duration_seconds=0.5, timestamp=at(second)
    )


def failed(run_name: str, key: str, second: float, message: str = "no rows") -> AssetFailed:
    error = ErrorInfo(type="ValueError", message=message, traceback="Traceback ...")
    return AssetFailed(
        run_name=run_name,
        asset_key=AssetKey.from_user_string(key),
        error=error,
        duration_seconds=0.5,
        timestamp=at(second),
    )


def skipped(run_name: str, key: str, second: float, origin: str) -> AssetSkipped:
    origin_key = AssetKey.from_user_string(origin)
    return AssetSkipped(
        run_name=run_name,
        asset_key=AssetKey.from_user_string(key),
        upstream=(origin_key,),
        failed_upstream=(origin_key,),
        timestamp=at(second),
    )


def failing_events(run_name: str) -> list[Any]:
    """raw/customers and raw/orders materialize, orders fails; customers and revenue are skipped."""
    return [
        started(run_name, "raw/customers", 0),
        materialized(run_name, "raw/customers", 1),
        started(run_name, "raw/orders", 1),
        materialized(run_name, "raw/orders", 2),
        started(run_name, "orders", 2),
        failed(run_name, "orders", 3),
        skipped(run_name, "customers", 3, "orders"),
        skipped(run_name, "revenue", 3, "orders"),
    ]


def exited(code: int, reason: str = "Error") -> dict[str, Any]:
    """A terminated run container without a summary (the events carry the results)."""
    return states.terminated(code, reason)
