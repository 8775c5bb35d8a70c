"""The AssetSchedule reconcile applies its plan: the tick's run is created (an existing one is fine), Replace
cancels with a merge patch (a run already gone is fine), the status is written only when it changed, and
the timer is set from the clock at return time, so the time the writes took does not make the next tick
late."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubeasset.api import AssetRun, AssetSchedule
from kubeasset.controller import cache
from kubeasset.controller.asset_schedule import AFTER_CREATE_SECONDS, reconcile_asset_schedule
from kubeasset.controller.kube import Kind
from kubeasset.controller.merge_patch import merge_patch
from kubeasset.controller.runtime import ASSET_SCHEDULE, Controller
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.reconcile.plan_items import ObjectId
from kubeasset.reconcile.trigger_runs import SCHEDULE_LABEL
from tests.unit.reconcile.test_schedule_plan import at, job, run, schedule

KEY = ObjectKey(ASSET_SCHEDULE, "shop", "hourly")


class _FakeIO:
    """Records the writes; ``missing`` names runs whose patch answers 404."""

    def __init__(self, missing: set[str] | None = None) -> None:
        self.created: list[str] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.status_patches: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.events: list[str] = []
        self.missing = missing or set()

    async def create(self, kind: Kind, manifest: Mapping[str, Any]) -> dict[str, Any]:
        self.created.append(manifest["metadata"]["name"])
        return dict(manifest)

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        if name in self.missing:
            raise ApiException(status=404, reason="Not Found")
        self.patched.append((name, dict(patch)))
        return {}

    async def delete(self, kind: Kind, namespace: str, target: ObjectId) -> None:
        self.deleted.append(target.name)

    async def patch_status(
        self, kind: Kind, metadata: Mapping[str, Any], current: Mapping[str, Any] | None, desired: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        patch = merge_patch(current or {}, desired)
        if patch:
            self.status_patches.append(patch)
        return patch or None

    async def request(self, method: str, path: str, **options: Any) -> Any:
        self.events.append(options["body"]["reason"])
        return {}


def _clock(*moments: datetime) -> Iterator[datetime]:
    yield from moments
    while True:
        yield moments[-1]


def _controller(
    io: _FakeIO, clock: Iterator[datetime], the_schedule: AssetSchedule, runs: list[AssetRun]
) -> Controller:
    controller = Controller(io, clock=lambda: next(clock))  # type: ignore[arg-type]
    indexes: dict[str, Any] = {name: {} for name in cache.ALL_INDEXES}
    indexes[cache.SCHEDULES][("shop", "hourly")] = [the_schedule]
    indexes[cache.JOBS][("shop", "sales")] = [job()]
    controller.cache.bind(indexes)
    for each in runs:  # as the AssetRun informer does, with the label a schedule's runs carry
        labelled = each.metadata.model_copy(update={"labels": {SCHEDULE_LABEL: "hourly"}})
        controller.cache.run_store.put(each.metadata.name or "", each.model_copy(update={"metadata": labelled}))
    return controller


def test_a_due_tick_creates_its_run_first_and_records_it_when_the_run_shows_up() -> None:
    io = _FakeIO()
    before = schedule({"lastScheduleTime": "2027-01-05T09:00:00Z"})
    # The first reconcile creates the run and writes nothing else: it looks again soon in any case.
    first = _controller(io, _clock(at("2027-01-05T10:00:00.500000")), before, [])
    retry = asyncio.run(reconcile_asset_schedule(first, KEY))
    assert io.created == [f"hourly-{int(at('2027-01-05T10:00:00').timestamp()) // 60}"]
    assert io.status_patches == [] and io.events == []
    assert retry == pytest.approx(AFTER_CREATE_SECONDS)

    # The run's watch event wakes it: the status and the Event now; the plan sees 10:00:01 and the writes
    # take 2 s, so the next tick (11:00) is 3597 s after return.
    clock = _clock(at("2027-01-05T10:00:01"), at("2027-01-05T10:00:03"))
    second = _controller(io, clock, before, [run("2027-01-05T10:00:00")])
    delay = asyncio.run(reconcile_asset_schedule(second, KEY))
    assert len(io.created) == 1
    assert io.status_patches and io.status_patches[0]["lastScheduleTime"] == "2027-01-05T10:00:00Z"
    assert io.status_patches[0]["nextScheduleTime"] == "2027-01-05T11:00:00Z"
    assert io.events == ["RunCreated"]
    assert delay == pytest.approx(3597)


def test_an_unchanged_status_is_not_written_and_nothing_is_created_between_ticks() -> None:
    io = _FakeIO()
    now = at("2027-01-05T10:30:00")
    first = _controller(io, _clock(now), schedule({"lastScheduleTime": "2027-01-05T10:00:00Z"}), [])
    asyncio.run(reconcile_asset_schedule(first, KEY))
    written = io.status_patches[-1]
    status = schedule({"lastScheduleTime": "2027-01-05T10:00:00Z"}).status
    assert status is not None
    settled = schedule(merge_status(status.to_json(), written))
    io.status_patches.clear()
    delay = asyncio.run(reconcile_asset_schedule(_controller(io, _clock(now), settled, []), KEY))
    assert io.created == [] and io.status_patches == []
    assert delay == pytest.approx(timedelta(minutes=30).total_seconds())


def test_replace_cancels_the_active_run_with_a_merge_patch_and_tolerates_a_run_already_gone() -> None:
    active = [run("2027-01-05T09:00:00", "Running"), run("2027-01-05T08:00:00", "Pending")]
    io = _FakeIO(missing={active[1].metadata.name or ""})
    controller = _controller(
        io,
        _clock(at("2027-01-05T10:00:01")),
        schedule({"lastScheduleTime": "2027-01-05T09:00:00Z"}, concurrencyPolicy="Replace"),
        active,
    )
    asyncio.run(reconcile_asset_schedule(controller, KEY))
    assert io.patched == [(active[0].metadata.name, {"spec": {"cancel": True}})]
    assert len(io.created) == 1
    assert io.events == ["RunsReplaced"] and io.status_patches == []  # the status and RunCreated come next


def test_a_deleted_schedule_is_left_alone() -> None:
    io = _FakeIO()
    controller = _controller(io, _clock(at("2027-01-05T10:00:01")), schedule(), [])
    controller.cache.bind({name: {} for name in cache.ALL_INDEXES})
    assert asyncio.run(reconcile_asset_schedule(controller, KEY)) is None
    assert io.created == [] and io.status_patches == []


def merge_status(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``current`` with the merge ``patch`` applied (None removes)."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_status(merged[key], value)
        else:
            merged[key] = value
    return merged


class _ServerIO(_FakeIO):
    """Answers a status patch with the whole object, as the API server does (a new resourceVersion)."""

    def __init__(self, stored: AssetSchedule) -> None:
        super().__init__()
        self.stored = stored

    async def patch_status(
        self, kind: Kind, metadata: Mapping[str, Any], current: Mapping[str, Any] | None, desired: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if await super().patch_status(kind, metadata, current, desired) is None:
            return None
        body = self.stored.to_json()
        body["status"] = dict(desired)
        body["metadata"]["resourceVersion"] = str(int(metadata["resourceVersion"]) + 1)
        return body


def test_the_ticks_run_waking_the_schedule_before_the_cache_has_its_status_writes_nothing_again() -> None:
    stored = schedule({"lastScheduleTime": "2027-01-05T09:00:00Z"})
    stored = stored.model_copy(update={"metadata": stored.metadata.model_copy(update={"resource_version": "41"})})
    io = _ServerIO(stored)
    controller = _controller(io, _clock(at("2027-01-05T10:00:00.500000")), stored, [])
    asyncio.run(reconcile_asset_schedule(controller, KEY))
    assert len(io.created) == 1 and io.status_patches == []
    # The run's ADDED event wakes the schedule, which writes its status; the run's next event wakes it
    # again while the cache still shows version 41 of the schedule.
    [name] = io.created
    tick_run = run("2027-01-05T10:00:00", None).model_copy(
        update={"metadata": run("2027-01-05T10:00:00", None).metadata.model_copy(update={"name": name})}
    )
    labelled = tick_run.metadata.model_copy(update={"labels": {SCHEDULE_LABEL: "hourly"}})
    controller.cache.run_store.put(name, tick_run.model_copy(update={"metadata": labelled}))
    asyncio.run(reconcile_asset_schedule(controller, KEY))
    assert len(io.created) == 1 and len(io.status_patches) == 1
    asyncio.run(reconcile_asset_schedule(controller, KEY))
    assert len(io.created) == 1 and len(io.status_patches) == 1
