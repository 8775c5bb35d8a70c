"""Reconciling one AssetSchedule (being written: the glue between the cache, the pure planner and the API)."""

from __future__ import annotations

from kubeasset.controller.runtime import Controller
from kubeasset.controller.workqueue import ObjectKey


async def reconcile_asset_schedule(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the AssetSchedule ``key``; returns when to look again (None: on the next change)."""
    raise NotImplementedError("AssetSchedule reconcile is being written")
