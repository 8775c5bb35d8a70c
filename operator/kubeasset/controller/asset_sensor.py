"""Reconciling one AssetSensor: its job, the job's code location graph and the catalog's
``lastMaterialization`` of every asset (all from the cache) and the runs labelled with its name go to
:func:`kubeasset.reconcile.sensor.plan_sensor`; the controller creates the run a firing asks for (named
after the consumed materializations, so 409 AlreadyExists is success), deletes finished runs beyond the
history limits, writes the status (the cursor) when it differs and posts the Events.

The cursor lives in the status, so what a sensor consumed survives a restart; a status write lost
after the run was created is repaired by the next plan, which finds the run of that name and only
records it. A sensor is woken by any change of an Asset of its job's location (status included), by
its runs, by its job, and at ``plan.requeue_at`` (when ``minimumIntervalSeconds`` lets a pending
firing through).

Cost per reconcile: no API read (the cache; the graph is rebuilt only when an Asset's spec changed), at
most one create and one status patch.
"""

from __future__ import annotations

import asyncio

from kubeasset.api.asset import Materialization
from kubeasset.controller.metrics import ready_of, sensor_result
from kubeasset.controller.runtime import Controller
from kubeasset.controller.trigger_plan import apply_trigger_plan
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.errors import GraphError, InvalidAssetKeyError
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.sensor import SensorObservation, plan_sensor


async def reconcile_asset_sensor(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the AssetSensor ``key``; returns when to look again (None: on the next change)."""
    namespace, name = key.namespace, key.name
    sensor = controller.cache.sensor(namespace, name)
    if sensor is None or sensor.metadata.deletion_timestamp is not None:
        return None  # its runs go with it (ownerReferences)
    job = controller.cache.job(namespace, sensor.spec.job)
    graph: AssetGraph | None = None
    materializations: dict[str, Materialization] = {}
    if job is not None and controller.cache.location(namespace, job.spec.code_location) is not None:
        assets = controller.cache.assets(namespace, job.spec.code_location)
        try:
            graph = await asyncio.to_thread(controller.cache.graph, namespace, job.spec.code_location, assets)
        except (GraphError, InvalidAssetKeyError):
            graph = None  # the catalog is being written or was damaged: the plan waits for the location
        materializations = {
            asset.spec.key: asset.status.last_materialization
            for asset in assets
            if asset.status is not None and asset.status.last_materialization is not None
        }
    runs = controller.cache.runs_of_sensor(namespace, name)
    observed = SensorObservation(job=job, graph=graph, materializations=materializations, runs=runs)
    plan = plan_sensor(sensor, observed, controller.now())

    delay = await apply_trigger_plan(
        controller,
        sensor,
        create=plan.create,
        delete=plan.delete,
        status=plan.status.to_json(),
        events=plan.events,
        requeue_at=plan.requeue_at,
    )
    # Counted once applied: a failed apply is a reconcile error, and its retry evaluates again.
    result = sensor_result(len(plan.create), ready_of(plan.status.conditions))
    controller.metrics.sensor_evaluated(namespace, name, result)
    return delay
