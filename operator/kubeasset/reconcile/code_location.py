"""Reconciling a CodeLocation: run discovery when its input changed, record the graph in brief in the
status and in full in the Asset catalog, and keep the last good catalog when a refresh fails.

``plan_code_location`` is level-based and idempotent: the same observation gives the same plan, and
the status it returns is equal to the current one when nothing changed (the controller then writes
nothing). Events are emitted on transitions of the Ready condition only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from kubeasset.api.asset import Asset
from kubeasset.api.codelocation import AssetsSummary, CodeJob, CodeLocation, CodeLocationStatus
from kubeasset.api.conditions import READY, ConditionStatus, find_condition, set_condition
from kubeasset.api.types import MAX_CODE_JOBS, MAX_DESCRIPTION_LENGTH, MAX_GROUPS
from kubeasset.errors import InvalidManifestError
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.catalog import CatalogChanges, CatalogMemo, desired_assets, diff_catalog
from kubeasset.reconcile.discovery import DiscoveryDefaults, build_discovery_pod
from kubeasset.reconcile.discovery_result import (
    DISCOVERY_FAILED,
    INVALID_DEFINITIONS,
    DiscoveredJob,
    DiscoveryFailure,
    DiscoveryResult,
)
from kubeasset.reconcile.naming import REFRESH_ANNOTATION, discovery_pod_name
from kubeasset.reconcile.plan_items import Event, EventType, ObjectId
from kubeasset.reconcile.pod_outcome import PodOutcome, PodOutcomeKind

#: Ready reasons besides those of discovery_result: discovered, running, and Pods that cannot start.
DISCOVERED: Final = "Discovered"
DISCOVERING: Final = "Discovering"
IMAGE_PULL_FAILED: Final = "ImagePullFailed"
POD_START_FAILED: Final = "PodStartFailed"

_IMAGE_PULL_REASONS: Final = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)
_IN_PROGRESS: Final = frozenset(
    {PodOutcomeKind.PENDING, PodOutcomeKind.RUNNING, PodOutcomeKind.TERMINATING, PodOutcomeKind.UNKNOWN}
)


@dataclass(frozen=True)
class DiscoveryObservation:
    """What the controller saw for one CodeLocation.

    ``pod``: the outcome (``classify_pod``) of the Pod named ``discovery_pod_name(location, now)``, None
    when there is no such Pod. ``result``: ``parse_discovery`` of that Pod's log and termination
    message, once its container terminated (None before, or when the log could not be read).
    ``other_pods``: the location's other discovery Pods (label selector
    ``app.kubernetes.io/component=discovery,kubeasset.dev/code-location=<label_value(name)>``), stale.
    ``assets``: the location's Asset objects (label ``kubeasset.dev/code-location``).
    """

    pod: PodOutcome | None = None
    result: DiscoveryResult | None = None
    other_pods: Sequence[ObjectId] = ()
    assets: Sequence[Asset] = ()


@dataclass(frozen=True)
class CodeLocationPlan:
    """What to do: Pods to create and delete, the status to write (if it differs), Events, when to look
    again, and the Asset catalog changes."""

    create: tuple[dict[str, Any], ...]
    delete: tuple[ObjectId, ...]
    status: CodeLocationStatus
    events: tuple[Event, ...]
    requeue_after: float | None
    catalog: CatalogChanges = field(default_factory=CatalogChanges)
    catalog_graph: AssetGraph | None = None
    """The discovered graph when the observed Asset objects are exactly its catalog (nothing to change):
    jobs, runs and sensors may then use it instead of rebuilding the same graph from those objects."""


def plan_code_location(
    location: CodeLocation,
    observed: DiscoveryObservation,
    now: datetime,
    *,
    defaults: DiscoveryDefaults | None = None,
    catalog_memo: CatalogMemo | None = None,
) -> CodeLocationPlan:
    """Decide what to do for ``location`` given ``observed`` at ``now``.

    * no discovery Pod for the current input: create it (Ready stays as it is; Unknown/Discovering on
      the first discovery);
    * a Pod on its way: wait (poll);
    * a Pod that cannot start (image pull, config): Ready False ImagePullFailed / PodStartFailed;
    * a finished Pod with a graph: Ready True, status summary, catalog created/updated/pruned;
    * a finished Pod without one: Ready False with the runner's reason (ImportError, InvalidGraph,
      InvalidDefinitions, DefinitionsNotFound, DiscoveryFailed); the previous graph and its Asset
      objects are kept, and the message says so. A failure that may pass (not the code's fault) is
      retried ``defaults.retry_seconds`` after the Pod ended, by deleting the Pod.

    Stale discovery Pods (other inputs) are deleted. With a refresh interval the plan requeues at the
    next refresh epoch, whose new Pod name starts a new discovery.

    ``catalog_memo``: the location's :class:`~kubeasset.reconcile.catalog.CatalogMemo`, kept by the caller
    between plans; the plan is the same with or without it, only cheaper when the catalog is in sync.
    """
    defaults = defaults or DiscoveryDefaults()
    status = location.status or CodeLocationStatus()
    pod_name = discovery_pod_name(location, now)
    delete = [pod for pod in observed.other_pods if pod.name != pod_name]
    create: list[dict[str, Any]] = []
    catalog = CatalogChanges()
    catalog_graph: AssetGraph | None = None
    requeue: float | None = None
    outcome = observed.pod

    if outcome is None or outcome.kind == PodOutcomeKind.NOT_CREATED:
        create.append(build_discovery_pod(location, now=now, defaults=defaults))
        new_status = _discovering(status, now, f"starting discovery Pod {pod_name}")
        requeue = defaults.poll_seconds
    elif outcome.kind in _IN_PROGRESS:
        new_status = _discovering(status, now, outcome.message)
        requeue = defaults.poll_seconds
    elif outcome.kind == PodOutcomeKind.NOT_STARTING:
        reason = IMAGE_PULL_FAILED if outcome.reason in _IMAGE_PULL_REASONS else POD_START_FAILED
        new_status = _failed(status, location, now, DiscoveryFailure(reason, outcome.message))
        # The kubelet keeps retrying a pull with back-off until activeDeadlineSeconds ends the Pod; a
        # final reason (InvalidImageName) only clears with a new spec, which is a new Pod anyway.
        requeue = None if outcome.final else defaults.poll_seconds
    else:  # the Pod finished
        result = observed.result
        failure = _failure(outcome, result)
        new_status = status
        if failure is None and result is not None and result.graph is not None:
            try:
                if catalog_memo is not None:
                    catalog = catalog_memo.changes(location, result.graph, result.graph_hash, observed.assets)
                else:
                    catalog = diff_catalog(desired_assets(location, result.graph), observed.assets)
            except InvalidManifestError as error:
                failure = DiscoveryFailure(INVALID_DEFINITIONS, str(error))
            else:
                new_status = _discovered(status, location, now, result, result.graph, outcome)
                if not catalog:
                    catalog_graph = result.graph
        if failure is not None:
            new_status = _failed(status, location, now, failure)
            if not failure.in_code:
                # Not the code's fault (OOMKilled, evicted, deadline...): try again after a pause, by
                # deleting the Pod; the next plan creates it again under the same name.
                waited = (now - _failed_since(outcome, new_status)).total_seconds()
                if waited >= defaults.retry_seconds:
                    delete.append(ObjectId(pod_name))
                else:
                    requeue = defaults.retry_seconds - waited

    requeue = _earliest(requeue, _next_refresh(location, now))
    return CodeLocationPlan(
        create=tuple(create),
        delete=tuple(delete),
        status=new_status,
        events=_events(status, new_status, catalog),
        requeue_after=requeue,
        catalog=catalog,
        catalog_graph=catalog_graph,
    )


# --- statuses -------------------------------------------------------------------------------------------


def _discovering(status: CodeLocationStatus, now: datetime, message: str) -> CodeLocationStatus:
    # While a discovery runs the status keeps describing the last finished one (observedGeneration
    # included, so tools see the new generation as in progress); only a first discovery says Discovering.
    if find_condition(status.conditions, READY) is not None:
        return status
    conditions = set_condition(
        status.conditions, READY, ConditionStatus.UNKNOWN, reason=DISCOVERING, message=message, now=now
    )
    return status.model_copy(update={"conditions": conditions})


def _discovered(
    status: CodeLocationStatus,
    location: CodeLocation,
    now: datetime,
    result: DiscoveryResult,
    graph: AssetGraph,
    outcome: PodOutcome,
) -> CodeLocationStatus:
    groups = sorted({spec.group_name for spec in graph.specs.values()})
    jobs = [_code_job(job) for job in result.jobs[:MAX_CODE_JOBS]]
    summary = AssetsSummary(count=len(graph), groups=groups[:MAX_GROUPS], graph_hash=result.graph_hash)
    unchanged = status.assets == summary and status.jobs == jobs and status.last_discovery_time is not None
    discovered_at = outcome.finished_at or (status.last_discovery_time if unchanged else None) or now
    message = (
        f"{_count(len(graph), 'asset')} in {_count(len(groups), 'group')}, {_count(len(jobs), 'job')} defined "
        f"in code (graph {result.graph_hash})"
    )
    conditions = set_condition(
        status.conditions,
        READY,
        ConditionStatus.TRUE,
        reason=DISCOVERED,
        message=message,
        now=now,
        observed_generation=location.metadata.generation,
    )
    return status.model_copy(
        update={
            "observed_generation": location.metadata.generation,
            "conditions": conditions,
            "assets": summary,
            "jobs": jobs,
            "last_discovery_time": discovered_at,
            "image_id": outcome.image_id or status.image_id,
        }
    )


def _failed(
    status: CodeLocationStatus, location: CodeLocation, now: datetime, failure: DiscoveryFailure
) -> CodeLocationStatus:
    message = failure.message
    if failure.in_code:
        message += (
            f"; fix the code and publish it under a new image reference, or set the annotation "
            f"{REFRESH_ANNOTATION} to a new value to discover again"
        )
    if status.assets is not None and status.assets.graph_hash:
        when = f", discovered {status.last_discovery_time.isoformat()}" if status.last_discovery_time else ""
        message += (
            f"; keeping the {_count(status.assets.count, 'asset')} of the last successful discovery "
            f"(graph {status.assets.graph_hash}{when})"
        )
    conditions = set_condition(
        status.conditions,
        READY,
        ConditionStatus.FALSE,
        reason=failure.reason,
        message=message,
        now=now,
        observed_generation=location.metadata.generation,
    )
    return status.model_copy(update={"observed_generation": location.metadata.generation, "conditions": conditions})


def _failed_since(outcome: PodOutcome, status: CodeLocationStatus) -> datetime:
    """When the discovery ended: the container's finish time, else (a Pod that failed before its container
    ran) when Ready turned False, which set_condition keeps stable across plans."""
    if outcome.finished_at is not None:
        return outcome.finished_at
    ready = find_condition(status.conditions, READY)
    assert ready is not None  # _failed always sets it
    return ready.last_transition_time


def _failure(outcome: PodOutcome, result: DiscoveryResult | None) -> DiscoveryFailure | None:
    """Why a finished Pod gave no graph, None when it gave one. The runner's own verdict wins when it
    gave one (an import error); a Pod-level fate (OOMKilled, evicted, deadline) explains the rest better
    than "no document in the log"."""
    if result is not None and result.failure is not None and result.failure.in_code:
        return result.failure
    if outcome.kind == PodOutcomeKind.FAILED and outcome.reason != "Error":
        return DiscoveryFailure(DISCOVERY_FAILED, f"discovery failed: {outcome.message}")
    if result is None:
        return DiscoveryFailure(
            DISCOVERY_FAILED, f"discovery failed: {outcome.message}, and its output could not be read"
        )
    if result.failure is not None:
        return DiscoveryFailure(
            result.failure.reason,
            f"discovery Pod {outcome.pod_name}: {result.failure.message}",
            result.failure.cause_type,
        )
    if result.graph is None:
        return DiscoveryFailure(DISCOVERY_FAILED, f"discovery Pod {outcome.pod_name} reported no graph")
    return None


def _code_job(job: DiscoveredJob) -> CodeJob:
    description = job.description
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        description = description[: MAX_DESCRIPTION_LENGTH - 1] + "…"
    selection = job.selection if job.selection is None or len(job.selection) <= 4096 else None
    return CodeJob(name=job.name, selection=selection, description=description)


# --- events and timing ----------------------------------------------------------------------------------


def _events(old: CodeLocationStatus, new: CodeLocationStatus, catalog: CatalogChanges) -> tuple[Event, ...]:
    before = find_condition(old.conditions, READY)
    after = find_condition(new.conditions, READY)
    if after is None or (
        before is not None
        and (before.status, before.reason, before.message) == (after.status, after.reason, after.message)
    ):
        return ()
    if after.status == ConditionStatus.UNKNOWN:
        return (Event(EventType.NORMAL, after.reason, after.message),)
    if after.status == ConditionStatus.FALSE:
        return (Event(EventType.WARNING, after.reason, after.message),)
    events = [Event(EventType.NORMAL, after.reason, after.message)]
    old_hash = old.assets.graph_hash if old.assets else None
    if old_hash and new.assets and old_hash != new.assets.graph_hash:
        events.append(
            Event(
                EventType.NORMAL,
                "GraphChanged",
                f"graph {old_hash} -> {new.assets.graph_hash}: {len(catalog.create)} assets added, "
                f"{len(catalog.update)} changed, {len(catalog.delete)} removed",
            )
        )
    return tuple(events)


def _next_refresh(location: CodeLocation, now: datetime) -> float | None:
    """Seconds until the next periodic-refresh epoch (plus one, to land inside it), None without one."""
    refresh = location.spec.refresh
    interval = refresh.interval_seconds if refresh else None
    if not interval:
        return None
    timestamp = now.timestamp()
    return (math.floor(timestamp / interval) + 1) * interval - timestamp + 1.0


def _earliest(*delays: float | None) -> float | None:
    present = [delay for delay in delays if delay is not None]
    return min(present) if present else None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
