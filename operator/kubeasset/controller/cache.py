"""The informer cache the reconcilers read, looked up by namespace and name, holding parsed models: kopf
indexes for the few objects people write (CodeLocations, AssetJobs, AssetSchedules, AssetSensors, discovery
Pods; filled by kopf before any handler runs) and the stores of kubeasset's own informers for the kinds
that grow with use (Assets, AssetRuns, run Pods; see kubeasset.controller.informer for why).

Reading observed state here instead of listing it costs no API call per reconcile; the price is that the
cache may lag behind the controller's own writes for a moment, which the writes tolerate (a create that
finds its object is a success; a status write guarded by a stale resourceVersion is retried).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

from kubeasset.api.asset import Asset
from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun
from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.api.assetsensor import AssetSensor
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.resource import KubeResource
from kubeasset.controller.compaction import compact
from kubeasset.controller.store import Store
from kubeasset.errors import ApiModelError, ControllerError
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.catalog import graph_from_assets
from kubeasset.reconcile.trigger_runs import SCHEDULE_LABEL, SENSOR_LABEL, run_phase
from kubeasset.selection import prepare_index

log = logging.getLogger("kubeasset.controller")

# kopf index ids (a handler's id is its index's name in kopf's kwargs).
LOCATIONS: Final = "kubeasset_codelocations"
JOBS: Final = "kubeasset_assetjobs"
JOBS_BY_LOCATION: Final = "kubeasset_assetjobs_by_location"
DISCOVERY_PODS: Final = "kubeasset_discovery_pods"
SCHEDULES: Final = "kubeasset_assetschedules"
SENSORS: Final = "kubeasset_assetsensors"
SENSORS_BY_JOB: Final = "kubeasset_assetsensors_by_job"
SCHEDULES_BY_JOB: Final = "kubeasset_assetschedules_by_job"
ALL_INDEXES: Final = (
    LOCATIONS,
    JOBS,
    JOBS_BY_LOCATION,
    DISCOVERY_PODS,
    SCHEDULES,
    SENSORS,
    SENSORS_BY_JOB,
    SCHEDULES_BY_JOB,
)
# Store index names. AssetRuns are found by name, by job (spec.job), by schedule and by sensor (their
# labels), and, while unfinished, all under one key (the controller-wide maxConcurrentRuns counts them).
BY_NAME: Final = "name"
BY_LOCATION: Final = "location"
RUN_BY_JOB: Final = "job"
RUN_BY_SCHEDULE: Final = "schedule"
RUN_BY_SENSOR: Final = "sensor"
RUN_UNFINISHED: Final = "unfinished"
BY_RUN: Final = "run"

_R = TypeVar("_R", bound=KubeResource)
#: kopf's read-only index: key -> a collection of values (one per object).
IndexLike = Mapping[Any, Iterable[Any]]


class Cache:
    """Lookups over the kopf indexes (:meth:`bind` hands over kopf's index objects at operator start) and
    the informers' stores (:attr:`asset_store`, :attr:`run_store`, :attr:`run_pod_store`)."""

    def __init__(self) -> None:
        self._indexes: dict[str, IndexLike] = {name: {} for name in ALL_INDEXES}
        self._graphs: dict[tuple[str, str], tuple[int, AssetGraph]] = {}
        self.asset_store: Store[Asset] = Store({BY_LOCATION: _asset_location})
        self.run_store: Store[AssetRun] = Store(
            {
                BY_NAME: lambda run: [_name(run)],
                RUN_BY_JOB: _run_job,
                RUN_BY_SCHEDULE: lambda run: _run_label(run, SCHEDULE_LABEL),
                RUN_BY_SENSOR: lambda run: _run_label(run, SENSOR_LABEL),
                RUN_UNFINISHED: lambda run: [] if run_phase(run).is_finished else [()],
            }
        )
        self.run_pod_store: Store[dict[str, Any]] = Store({BY_RUN: _pod_run})

    def bind(self, indexes: Mapping[str, Any]) -> None:
        missing = [name for name in ALL_INDEXES if name not in indexes]
        if missing:
            raise ControllerError(f"kopf did not provide the indexes {missing}: the handlers are not registered")
        self._indexes = {name: indexes[name] for name in ALL_INDEXES}

    def _values(self, index: str, key: tuple[str, ...]) -> list[Any]:
        found = self._indexes[index].get(key)
        return list(found) if found is not None else []

    def location(self, namespace: str, name: str) -> CodeLocation | None:
        return _newest(self._values(LOCATIONS, (namespace, name)))

    def job(self, namespace: str, name: str) -> AssetJob | None:
        return _newest(self._values(JOBS, (namespace, name)))

    def jobs_of(self, namespace: str, location: str) -> list[str]:
        """Names of the AssetJobs whose spec.codeLocation is ``location``."""
        return sorted(set(self._values(JOBS_BY_LOCATION, (namespace, location))))

    def assets(self, namespace: str, location: str) -> list[Asset]:
        """The Asset objects whose spec.codeLocation is ``location``."""
        return self.asset_store.by(BY_LOCATION, (namespace, location))

    def discovery_pods(self, namespace: str, location: str) -> list[dict[str, Any]]:
        """The discovery Pods a CodeLocation of that name owns (any incarnation of it)."""
        return self._values(DISCOVERY_PODS, (namespace, location))

    def run(self, namespace: str, name: str) -> AssetRun | None:
        return _newest(self.run_store.by(BY_NAME, (namespace, name)))

    def runs_of_job(self, namespace: str, job: str) -> list[AssetRun]:
        """The AssetRuns of the AssetJob ``job`` (``spec.job``), in no particular order."""
        return self.run_store.by(RUN_BY_JOB, (namespace, job))

    def all_runs(self) -> list[AssetRun]:
        """Every AssetRun the controller watches, once each (all namespaces; the metrics count them)."""
        return list(self.run_store)

    def unfinished_runs(self) -> list[AssetRun]:
        """Every Pending, Starting or Running run the controller watches (all namespaces)."""
        return self.run_store.by(RUN_UNFINISHED, ())

    def runs_of_schedule(self, namespace: str, schedule: str) -> list[AssetRun]:
        """The AssetRuns labelled ``kubeasset.dev/schedule=<schedule>``."""
        return self.run_store.by(RUN_BY_SCHEDULE, (namespace, schedule))

    def runs_of_sensor(self, namespace: str, sensor: str) -> list[AssetRun]:
        """The AssetRuns labelled ``kubeasset.dev/sensor=<sensor>``."""
        return self.run_store.by(RUN_BY_SENSOR, (namespace, sensor))

    def run_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """The run Pods an AssetRun of that name controls (any incarnation of it)."""
        return self.run_pod_store.by(BY_RUN, (namespace, run))

    def schedule(self, namespace: str, name: str) -> AssetSchedule | None:
        return _newest(self._values(SCHEDULES, (namespace, name)))

    def sensor(self, namespace: str, name: str) -> AssetSensor | None:
        return _newest(self._values(SENSORS, (namespace, name)))

    def schedules_of_job(self, namespace: str, job: str) -> list[str]:
        """Names of the AssetSchedules whose spec.job is ``job``."""
        return sorted(set(self._values(SCHEDULES_BY_JOB, (namespace, job))))

    def sensors_of_job(self, namespace: str, job: str) -> list[str]:
        """Names of the AssetSensors whose spec.job is ``job``."""
        return sorted(set(self._values(SENSORS_BY_JOB, (namespace, job))))

    def graph(self, namespace: str, location: str, assets: list[Asset]) -> AssetGraph:
        """The location's graph rebuilt from ``assets`` (its Asset objects as :meth:`assets` returned them,
        a snapshot, so this may run in a worker thread), rebuilt only when one of them changed its spec
        (uid and generation); raises the graph's errors while the catalog is incomplete."""
        fingerprint = _catalog_fingerprint(assets)
        known = self._graphs.get((namespace, location))
        if known is not None and known[0] == fingerprint:
            return known[1]
        graph = graph_from_assets(assets, location)
        prepare_index(graph)  # here, once per graph: no job's selection pays for it
        self._graphs[(namespace, location)] = (fingerprint, graph)
        return graph

    def use_graph(self, namespace: str, location: str, assets: list[Asset], graph: AssetGraph) -> None:
        """``graph`` is the one ``assets`` describe (the discovered graph whose catalog they are, as the
        location's plan found): :meth:`graph` answers with it for as long as they are unchanged, so a large
        location's graph is held once, not once discovered and once rebuilt from its catalog."""
        known = self._graphs.get((namespace, location))
        if known is not None and known[1] is graph:
            return
        prepare_index(graph)
        self._graphs[(namespace, location)] = (_catalog_fingerprint(assets), graph)

    def forget_graph(self, namespace: str, location: str) -> None:
        self._graphs.pop((namespace, location), None)


def _catalog_fingerprint(assets: Iterable[Asset]) -> int:
    """Which Asset objects, at which spec generation: equal fingerprints, equal graphs."""
    return hash(frozenset((asset.metadata.uid, asset.metadata.generation) for asset in assets))


def _newest(candidates: list[_R]) -> _R | None:
    """Of several objects under one name (a deleted one whose removal the watch has not delivered yet and
    its re-created successor), the one not being deleted, else the last."""
    alive = [candidate for candidate in candidates if candidate.metadata.deletion_timestamp is None]
    pool = alive or candidates
    return pool[-1] if pool else None


def _name(resource: KubeResource) -> tuple[str, str]:
    return resource.metadata.namespace or "", resource.metadata.name or ""


def _asset_location(asset: Asset) -> list[tuple[str, str]]:
    return [(asset.metadata.namespace or "", asset.spec.code_location)]


def _run_job(run: AssetRun) -> list[tuple[str, str]]:
    return [(run.metadata.namespace or "", run.spec.job)] if run.spec.job else []


def _run_label(run: AssetRun, label: str) -> list[tuple[str, str]]:
    value = (run.metadata.labels or {}).get(label)
    return [(run.metadata.namespace or "", value)] if value else []


def _pod_run(pod: Mapping[str, Any]) -> list[tuple[str, str]]:
    run = owner_name(pod, AssetRun.crd.kind)
    return [(str((pod.get("metadata") or {}).get("namespace") or ""), run)] if run else []


def owner_name(body: Mapping[str, Any], kind: str) -> str | None:
    """The name of the object's controller owner of ``kind`` (None when it has none)."""
    for reference in (body.get("metadata") or {}).get("ownerReferences") or ():
        if reference.get("controller") and reference.get("kind") == kind:
            return str(reference.get("name"))
    return None


def parse_resource(model: type[_R], body: Mapping[str, Any]) -> _R | None:
    """The object as its model, compacted for the cache (read-only from then on: see
    kubeasset.controller.compaction); None (and a log line) for one that does not fit, which the controller
    then ignores rather than crash on (the CRD schema makes this a version-skew problem, not user input)."""
    data = dict(body)
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping) and "managedFields" in metadata:
        # Kept by ObjectMeta's pass-through fields otherwise: most of a cached object's memory, never read.
        data["metadata"] = {key: value for key, value in metadata.items() if key != "managedFields"}
    try:
        return compact(model.model_validate(data))
    except (ApiModelError, ValueError) as error:
        metadata = body.get("metadata") or {}
        log.warning(
            "ignoring %s %s/%s: it does not fit this controller's model: %s",
            model.crd.kind,
            metadata.get("namespace"),
            metadata.get("name"),
            error,
        )
        return None
