"""Reconciling one AssetSensor (being written: the glue between the cache, the pure planner and the API)."""

from __future__ import annotations

from kubeasset.controller.runtime import Controller
from kubeasset.controller.workqueue import ObjectKey


async def reconcile_asset_sensor(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the AssetSensor ``key``; returns when to look again (None: on the next change)."""
    raise NotImplementedError("AssetSensor reconcile is being written")
