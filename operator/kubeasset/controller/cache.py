"""The informer cache the reconcilers read: kopf indexes (filled by the watches before any handler runs, kept
current by every watch event), looked up by namespace and name, holding parsed models.

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
from kubeasset.errors import ControllerError
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.catalog import graph_from_assets

log = logging.getLogger("kubeasset.controller")

# kopf index ids (a handler's id is its index's name in kopf's kwargs).
LOCATIONS: Final = "kubeasset_codelocations"
JOBS: Final = "kubeasset_assetjobs"
JOBS_BY_LOCATION: Final = "kubeasset_assetjobs_by_location"
ASSETS_BY_LOCATION: Final = "kubeasset_assets_by_location"
DISCOVERY_PODS: Final = "kubeasset_discovery_pods"
#: AssetRuns under several keys at once: ("run", namespace, name), ("job", namespace, job),
#: ("schedule", namespace, schedule), ("sensor", namespace, sensor) (the last two from the run's labels).
RUNS: Final = "kubeasset_assetruns"
RUN_PODS: Final = "kubeasset_run_pods"
SCHEDULES: Final = "kubeasset_assetschedules"
SENSORS: Final = "kubeasset_assetsensors"
SENSORS_BY_JOB: Final = "kubeasset_assetsensors_by_job"
SCHEDULES_BY_JOB: Final = "kubeasset_assetschedules_by_job"
ALL_INDEXES: Final = (
    LOCATIONS,
    JOBS,
    JOBS_BY_LOCATION,
    ASSETS_BY_LOCATION,
    DISCOVERY_PODS,
    RUNS,
    RUN_PODS,
    SCHEDULES,
    SENSORS,
    SENSORS_BY_JOB,
    SCHEDULES_BY_JOB,
)
#: The first element of a RUNS index key: how the run is related to the name in the key.
RUN_BY_NAME: Final = "run"
RUN_BY_JOB: Final = "job"
RUN_BY_SCHEDULE: Final = "schedule"
RUN_BY_SENSOR: Final = "sensor"
#: Every run that has not finished (Pending, Starting, Running), in every watched namespace.
RUN_UNFINISHED: Final = "unfinished"

_R = TypeVar("_R", bound=KubeResource)
#: kopf's read-only index: key -> a collection of values (one per object).
IndexLike = Mapping[Any, Iterable[Any]]


class Cache:
    """Lookups over the kopf indexes; :meth:`bind` hands over kopf's index objects at operator start."""

    def __init__(self) -> None:
        self._indexes: dict[str, IndexLike] = {}
        self._graphs: dict[tuple[str, str], tuple[int, AssetGraph]] = {}

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
        return self._values(ASSETS_BY_LOCATION, (namespace, location))

    def discovery_pods(self, namespace: str, location: str) -> list[dict[str, Any]]:
        """The discovery Pods a CodeLocation of that name owns (any incarnation of it)."""
        return self._values(DISCOVERY_PODS, (namespace, location))

    def run(self, namespace: str, name: str) -> AssetRun | None:
        return _newest(self._values(RUNS, (RUN_BY_NAME, namespace, name)))

    def runs_of_job(self, namespace: str, job: str) -> list[AssetRun]:
        """The AssetRuns of the AssetJob ``job`` (``spec.job``), in no particular order."""
        return self._values(RUNS, (RUN_BY_JOB, namespace, job))

    def all_runs(self) -> list[AssetRun]:
        """Every AssetRun the controller watches, once each (all namespaces; the metrics count them)."""
        index = self._indexes.get(RUNS)
        if index is None:
            return []
        found = (_newest(list(runs)) for key, runs in index.items() if key[0] == RUN_BY_NAME)
        return [run for run in found if run is not None]

    def unfinished_runs(self) -> list[AssetRun]:
        """Every Pending, Starting or Running run the controller watches (all namespaces)."""
        return self._values(RUNS, (RUN_UNFINISHED, "", ""))

    def runs_of_schedule(self, namespace: str, schedule: str) -> list[AssetRun]:
        """The AssetRuns labelled ``kubeasset.dev/schedule=<schedule>``."""
        return self._values(RUNS, (RUN_BY_SCHEDULE, namespace, schedule))

    def runs_of_sensor(self, namespace: str, sensor: str) -> list[AssetRun]:
        """The AssetRuns labelled ``kubeasset.dev/sensor=<sensor>``."""
        return self._values(RUNS, (RUN_BY_SENSOR, namespace, sensor))

    def run_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """The run Pods an AssetRun of that name controls (any incarnation of it)."""
        return self._values(RUN_PODS, (namespace, run))

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
        fingerprint = hash(frozenset((asset.metadata.uid, asset.metadata.generation) for asset in assets))
        known = self._graphs.get((namespace, location))
        if known is not None and known[0] == fingerprint:
            return known[1]
        graph = graph_from_assets(assets, location)
        self._graphs[(namespace, location)] = (fingerprint, graph)
        return graph

    def forget_graph(self, namespace: str, location: str) -> None:
        self._graphs.pop((namespace, location), None)


def _newest(candidates: list[_R]) -> _R | None:
    """Of several objects under one name (a deleted one whose removal the watch has not delivered yet and
    its re-created successor), the one not being deleted, else the last."""
    alive = [candidate for candidate in candidates if candidate.metadata.deletion_timestamp is None]
    pool = alive or candidates
    return pool[-1] if pool else None
