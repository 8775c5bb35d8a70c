"""kopf's part: the watches of the objects people write (CodeLocations, AssetJobs, AssetSchedules,
AssetSensors) and of discovery Pods, as ``@kopf.index`` (the informer cache) and ``@kopf.on.event`` handlers
that only route a change to the work queue. No handler decides anything or writes to the API. The kinds
that grow with use (Assets, AssetRuns, run Pods) are watched by kubeasset's own informers instead
(kubeasset.controller.watches; why: kubeasset.controller.informer).

Only event handlers and indexes, on purpose: they keep no state on the objects (no diff-base annotation,
no progress in status, no finalizer), so kubeasset does not litter users' objects or fight GitOps
tools. What kopf's timers and daemons would do (looking again later) is the work queue's delayed add.

Every handler, index handlers included, is ``async``: kopf runs plain functions in a thread pool (a thread
hop per watch event), and routing touches the work queue, which belongs to the event loop. Every event
handler tells the start-up gate that kopf's indexes are filled (kopf calls none before).

Costs per object: one watch per kind (namespace-wide or cluster-wide), an index entry (the parsed model),
and per watch event one index update plus a few dictionary operations.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Final

import kopf
from kubernetes import client

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.api.assetsensor import AssetSensor
from kubeasset.api.base import API_GROUP, API_VERSION
from kubeasset.api.codelocation import CodeLocation
from kubeasset.controller import cache
from kubeasset.controller.cache import owner_name, parse_resource
from kubeasset.controller.kube import PODS, kind_of
from kubeasset.controller.runtime import Controller
from kubeasset.reconcile.naming import COMPONENT_DISCOVERY, COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL

log = logging.getLogger("kubeasset.controller")

_DISCOVERY_LABELS: Final = {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: COMPONENT_DISCOVERY}
#: The server-side filter of kopf's Pod watch: discovery Pods only (run Pods are the informers').
DISCOVERY_POD_SELECTOR: Final = ",".join(f"{label}={value}" for label, value in _DISCOVERY_LABELS.items())
#: What kopf watches (kind, label selector): the start-up gate lists them.
KOPF_KINDS: Final = (
    (kind_of(CodeLocation), None),
    (kind_of(AssetJob), None),
    (kind_of(AssetSchedule), None),
    (kind_of(AssetSensor), None),
    (PODS, DISCOVERY_POD_SELECTOR),
)


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
    async def index_location(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = parse_resource(CodeLocation, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.on.event(API_GROUP, API_VERSION, "codelocations", id="kubeasset_codelocation_event", registry=registry)
    async def location_event(namespace: str | None, name: str, **_: Any) -> None:
        controller.startup.kopf_delivered()
        controller.location_changed(namespace or "", name)

    # --- AssetJob -------------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assetjobs", id=cache.JOBS, registry=registry)
    async def index_job(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = parse_resource(AssetJob, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.index(API_GROUP, API_VERSION, "assetjobs", id=cache.JOBS_BY_LOCATION, registry=registry)
    async def index_job_by_location(spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        location = spec.get("codeLocation")
        return {(namespace or "", location): name} if location else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assetjobs", id="kubeasset_assetjob_event", registry=registry)
    async def job_event(namespace: str | None, name: str, **_: Any) -> None:
        controller.startup.kopf_delivered()
        controller.job_changed(namespace or "", name)

    # --- discovery Pods -------------------------------------------------------------------------------

    @kopf.index("v1", "pods", labels=_DISCOVERY_LABELS, id=cache.DISCOVERY_PODS, registry=registry)
    async def index_discovery_pod(body: kopf.Body, namespace: str | None, **_: Any) -> dict[Any, Any]:
        location = owner_name(body, CodeLocation.crd.kind)
        # A deep copy: the reconcilers keep reading it while kopf moves on to the next event.
        return {(namespace or "", location): copy.deepcopy(dict(body))} if location else {}

    @kopf.on.event("v1", "pods", labels=_DISCOVERY_LABELS, id="kubeasset_discovery_pod_event", registry=registry)
    async def discovery_pod_event(body: kopf.Body, namespace: str | None, **_: Any) -> None:
        controller.startup.kopf_delivered()
        controller.discovery_pod_changed(namespace or "", owner_name(body, CodeLocation.crd.kind))

    # --- AssetSchedule --------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assetschedules", id=cache.SCHEDULES, registry=registry)
    async def index_schedule(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = parse_resource(AssetSchedule, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.index(API_GROUP, API_VERSION, "assetschedules", id=cache.SCHEDULES_BY_JOB, registry=registry)
    async def index_schedule_by_job(spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        job = spec.get("job")
        return {(namespace or "", job): name} if job else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assetschedules", id="kubeasset_assetschedule_event", registry=registry)
    async def schedule_event(namespace: str | None, name: str, meta: kopf.Meta, **_: Any) -> None:
        controller.startup.kopf_delivered()
        controller.schedule_changed(namespace or "", name, meta.get("resourceVersion"))

    # --- AssetSensor ----------------------------------------------------------------------------------

    @kopf.index(API_GROUP, API_VERSION, "assetsensors", id=cache.SENSORS, registry=registry)
    async def index_sensor(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        model = parse_resource(AssetSensor, body)
        return {(namespace or "", name): model} if model is not None else {}

    @kopf.index(API_GROUP, API_VERSION, "assetsensors", id=cache.SENSORS_BY_JOB, registry=registry)
    async def index_sensor_by_job(spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
        job = spec.get("job")
        return {(namespace or "", job): name} if job else {}

    @kopf.on.event(API_GROUP, API_VERSION, "assetsensors", id="kubeasset_assetsensor_event", registry=registry)
    async def sensor_event(namespace: str | None, name: str, meta: kopf.Meta, **_: Any) -> None:
        controller.startup.kopf_delivered()
        controller.sensor_changed(namespace or "", name, meta.get("resourceVersion"))

    return registry


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
