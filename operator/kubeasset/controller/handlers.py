"""kopf's part: the watches, as ``@kopf.index`` (the informer cache) and ``@kopf.on.event`` handlers that only
route a change to the work queue. No handler decides anything or writes to the API.

Only event handlers and indexes, on purpose: they keep no state on the objects (no diff-base annotation,
no progress in status, no finalizer), so kubeasset does not litter users' objects or fight GitOps
tools. What kopf's timers and daemons would do (looking again later) is the work queue's delayed add.

Every event handler is ``async``: kopf runs plain functions in a thread pool, and routing touches the work
queue and the run log followers, which belong to the event loop (not thread-safe).

Costs per object, for every kind: one watch per kind (namespace-wide or cluster-wide), an index entry
(the parsed model), and per watch event one index update plus a few dictionary operations.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any, Final

import kopf
from kubernetes import client

from kubeasset.api.asset import Asset
from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun
from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.api.assetsensor import AssetSensor
from kubeasset.api.base import API_GROUP, API_VERSION
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.resource import KubeResource
from kubeasset.controller import cache
from kubeasset.controller.runtime import Controller
from kubeasset.errors import ApiModelError
from kubeasset.reconcile.naming import (
    COMPONENT_DISCOVERY,
    COMPONENT_LABEL,
    COMPONENT_RUN,
    MANAGED_BY,
    MANAGED_BY_LABEL,
)
from kubeasset.reconcile.trigger_runs import SCHEDULE_LABEL, SENSOR_LABEL, run_phase

log = logging.getLogger("kubeasset.controller")

_DISCOVERY_LABELS: Final = {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: COMPONENT_DISCOVERY}
_RUN_LABELS: Final = {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: COMPONENT_RUN}


def build_registry(controller: Controller, configuration: client.Configuration) -> kopf.OperatorRegistry:
    """A kopf registry with kubeasset's handlers bound to ``controller`` (one registry per operator run, so
    tests can run a fresh controller in the same process)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(configuration)

    @kopf.on.startup(registry=registry)
    async def bind_indexes(**kwargs: Any) -> None:
        # kopf passes every index to every handler by its id; keep them for the reconcilers.
        controller.cache.bind(kwargs)

    # --- CodeLocation ---------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "codelocations", id=cache.LOCATIONS, registry=registry)
    def index_location(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = _parse(CodeLocation, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.on.event(API_GROUP, API_VERSION, "codelocations", id="kubeasset_codelocation_event", registry=registry)
    async def location_event(namespace: str | None, name: str, **_: Any) -> None:
        controller.location_changed(namespace or "", name)

    # --- AssetJob -------------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assetjobs", id=cache.JOBS, registry=registry)
    def index_job(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = _parse(AssetJob, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.index(API_GROUP, API_VERSION, "assetjobs", id=cache.JOBS_BY_LOCATION, registry=registry)
    def index_job_by_location(spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        location = spec.get("codeLocation")
        return {(namespace or "", location): name} if location else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assetjobs", id="kubeasset_assetjob_event", registry=registry)
    async def job_event(namespace: str | None, name: str, **_: Any) -> None:
        controller.job_changed(namespace or "", name)

    # --- Asset (the catalog) --------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assets", id=cache.ASSETS_BY_LOCATION, registry=registry)
    def index_asset(body: kopf.Body, namespace: str | None, **_: Any) -> dict[Any, Any]:
        model = _parse(Asset, body)
        return {(namespace or "", model.spec.code_location): model} if model is not None else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assets", id="kubeasset_asset_event", registry=registry)
    async def asset_event(
        type: str,
        body: kopf.Body,
        namespace: str | None,
        uid: str,
        spec: kopf.Spec,
        **_: Any,  # noqa: A002
    ) -> None:
        generation = body.get("metadata", {}).get("generation")
        controller.asset_changed(type, namespace or "", spec.get("codeLocation"), uid, generation)

    # --- discovery Pods -------------------------------------------------------------------------------

    @kopf.index("v1", "pods", labels=_DISCOVERY_LABELS, id=cache.DISCOVERY_PODS, registry=registry)
    def index_discovery_pod(body: kopf.Body, namespace: str | None, **_: Any) -> dict[Any, Any]:
        location = _owner_name(body, CodeLocation.crd.kind)
        # A deep copy: the reconcilers keep reading it while kopf moves on to the next event.
        return {(namespace or "", location): copy.deepcopy(dict(body))} if location else {}

    @kopf.on.event("v1", "pods", labels=_DISCOVERY_LABELS, id="kubeasset_discovery_pod_event", registry=registry)
    async def discovery_pod_event(body: kopf.Body, namespace: str | None, **_: Any) -> None:
        controller.discovery_pod_changed(namespace or "", _owner_name(body, CodeLocation.crd.kind))

    # --- AssetRun ---------------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assetruns", id=cache.RUNS, registry=registry)
    def index_run(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = _parse(AssetRun, body)
        return run_index_keys(namespace or "", name, model) if model is not None else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assetruns", id="kubeasset_assetrun_event", registry=registry)
    async def run_event(type: str, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> None:  # noqa: A002
        model = _parse(AssetRun, body)
        if model is not None:
            controller.run_changed(namespace or "", name, model, event_type=type)

    # --- run Pods -------------------------------------------------------------------------------------

    @kopf.index("v1", "pods", labels=_RUN_LABELS, id=cache.RUN_PODS, registry=registry)
    def index_run_pod(body: kopf.Body, namespace: str | None, **_: Any) -> dict[Any, Any]:
        run = _owner_name(body, AssetRun.crd.kind)
        return {(namespace or "", run): copy.deepcopy(dict(body))} if run else {}

    @kopf.on.event("v1", "pods", labels=_RUN_LABELS, id="kubeasset_run_pod_event", registry=registry)
    async def run_pod_event(type: str, body: kopf.Body, namespace: str | None, **_: Any) -> None:  # noqa: A002
        run = _owner_name(body, AssetRun.crd.kind)
        controller.run_pod_changed(type, namespace or "", run, copy.deepcopy(dict(body)))

    # --- AssetSchedule --------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assetschedules", id=cache.SCHEDULES, registry=registry)
    def index_schedule(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = _parse(AssetSchedule, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.index(API_GROUP, API_VERSION, "assetschedules", id=cache.SCHEDULES_BY_JOB, registry=registry)
    def index_schedule_by_job(spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        job = spec.get("job")
        return {(namespace or "", job): name} if job else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assetschedules", id="kubeasset_assetschedule_event", registry=registry)
    async def schedule_event(namespace: str | None, name: str, **_: Any) -> None:
        controller.schedule_changed(namespace or "", name)

    # --- AssetSensor ----------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assetsensors", id=cache.SENSORS, registry=registry)
    def index_sensor(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = _parse(AssetSensor, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.index(API_GROUP, API_VERSION, "assetsensors", id=cache.SENSORS_BY_JOB, registry=registry)
    def index_sensor_by_job(spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        job = spec.get("job")
        return {(namespace or "", job): name} if job else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assetsensors", id="kubeasset_assetsensor_event", registry=registry)
    async def sensor_event(namespace: str | None, name: str, **_: Any) -> None:
        controller.sensor_changed(namespace or "", name)

    return registry


def run_index_keys(namespace: str, name: str, run: AssetRun) -> dict[tuple[str, str, str], AssetRun]:
    """The keys an AssetRun is found under in the cache (see kubeasset.controller.cache.RUNS)."""
    keys = {(cache.RUN_BY_NAME, namespace, name): run}
    if run.spec.job:
        keys[(cache.RUN_BY_JOB, namespace, run.spec.job)] = run
    labels = run.metadata.labels or {}
    for label, relation in ((SCHEDULE_LABEL, cache.RUN_BY_SCHEDULE), (SENSOR_LABEL, cache.RUN_BY_SENSOR)):
        if labels.get(label):
            keys[(relation, namespace, labels[label])] = run
    if not run_phase(run).is_finished:
        # Every unfinished run under one key: the controller-wide maxConcurrentRuns counts them.
        keys[(cache.RUN_UNFINISHED, "", "")] = run
    return keys


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials from the same client configuration the controller's own calls use (as kopf's
    ``login_via_client`` does, but for this configuration rather than the process-wide default)."""
    header = configuration.get_api_key_with_prefix("BearerToken") or configuration.get_api_key_with_prefix(
        "authorization"
    )
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def _parse(model: type[KubeResource], body: Mapping[str, Any]) -> Any:
    """The object as its model; None (and a log line) for one that does not fit, which the controller then
    ignores rather than crash on (the CRD schema makes this a version-skew problem, not user input)."""
    try:
        return model.model_validate(dict(body))
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


def _owner_name(body: Mapping[str, Any], kind: str) -> str | None:
    for reference in (body.get("metadata") or {}).get("ownerReferences") or ():
        if reference.get("controller") and reference.get("kind") == kind:
            return str(reference.get("name"))
    return None
