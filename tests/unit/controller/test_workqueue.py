"""The work queue reconciles each object once at a time, coalesces bursts, honours delays, and retries failures."""

from __future__ import annotations

import asyncio
import time

import kopf

from kubeasset.controller.workqueue import ObjectKey, WorkQueue
from kubeasset.errors import InvalidManifestError, StaleCacheError

KEY = ObjectKey("CodeLocation", "ns", "shop")


async def _run_until(queue: WorkQueue, done: asyncio.Event, timeout: float = 5.0) -> None:
    task = asyncio.create_task(queue.run())
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_burst_of_adds_is_one_reconcile_and_never_two_at_once() -> None:
    calls: list[float] = []
    running = 0
    overlap = False
    done = asyncio.Event()

    async def reconcile(key: ObjectKey) -> float | None:
        nonlocal running, overlap
        running += 1
        overlap = overlap or running > 1
        calls.append(time.monotonic())
        await asyncio.sleep(0.05)
        if len(calls) == 1:
            for _ in range(10):  # events arriving while it runs: one more reconcile afterwards
                queue.add(key)
        running -= 1
        if len(calls) == 2:
            done.set()
        return None

    async def main() -> None:
        for _ in range(10):
            queue.add(KEY)
        await _run_until(queue, done)
        await asyncio.sleep(0.1)

    queue = WorkQueue({"CodeLocation": reconcile}, workers=4)
    asyncio.run(main())
    assert len(calls) == 2 and not overlap


def test_requeue_after_runs_the_key_again_later() -> None:
    calls: list[float] = []
    done = asyncio.Event()

    async def reconcile(key: ObjectKey) -> float | None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            done.set()
            return None
        return 0.2

    queue = WorkQueue({"CodeLocation": reconcile})
    queue.add(KEY)
    asyncio.run(_run_until(queue, done))
    assert calls[1] - calls[0] >= 0.2


def test_temporary_failures_are_retried_and_permanent_ones_reported_once() -> None:
    outcomes: list[Exception | None] = [StaleCacheError("changed"), InvalidManifestError("bad spec")]
    reported: list[type] = []
    done = asyncio.Event()

    async def reconcile(key: ObjectKey) -> float | None:
        error = outcomes.pop(0)
        if error is not None:
            raise error
        return None

    async def on_error(key: ObjectKey, error: kopf.TemporaryError | kopf.PermanentError, attempt: int) -> None:
        reported.append(type(error))
        if isinstance(error, kopf.PermanentError):
            done.set()

    queue = WorkQueue({"CodeLocation": reconcile}, on_error=on_error)
    queue.add(KEY)
    asyncio.run(_run_until(queue, done))
    assert reported == [kopf.TemporaryError, kopf.PermanentError]
    assert outcomes == []  # the permanent failure was not retried


def _run_key(name: str) -> ObjectKey:
    return ObjectKey("AssetRun", "ns", name)


def _schedule_key(name: str) -> ObjectKey:
    return ObjectKey("AssetSchedule", "ns", name)


def test_schedule_ticks_go_before_run_work_already_waiting_and_each_lane_keeps_its_order() -> None:
    order: list[str] = []
    done = asyncio.Event()

    async def reconcile(key: ObjectKey) -> float | None:
        order.append(key.name)
        if key.name == "run-1":
            # While the only worker is busy, more runs wait; then two schedule ticks fall due, and a
            # run's event wakes a third schedule.
            await asyncio.sleep(0.05)
            queue.add(_schedule_key("hourly"), urgent=True)
            queue.add(_schedule_key("woken"))
            queue.add(_schedule_key("daily"), urgent=True)
            await asyncio.sleep(0.05)  # the dispatcher hands them to the ready queue behind run-2, run-3
        if len(order) == 6:
            done.set()
        return None

    queue = WorkQueue({"AssetRun": reconcile, "AssetSchedule": reconcile}, workers=1)
    for name in ("run-1", "run-2", "run-3"):
        queue.add(_run_key(name))
    asyncio.run(_run_until(queue, done))
    assert order == ["run-1", "hourly", "daily", "run-2", "run-3", "woken"]


def test_a_schedules_own_timer_is_urgent_and_a_wake_by_a_change_is_not() -> None:
    order: list[str] = []
    done = asyncio.Event()
    ticked = False

    async def reconcile(key: ObjectKey) -> float | None:
        nonlocal ticked
        order.append(key.name)
        if key.name == "hourly" and not ticked:
            ticked = True
            return 0.05  # the schedule's next tick
        if key.name == "run-0":
            await asyncio.sleep(0.1)  # busy while the tick falls due and more runs arrive
            queue.add(_run_key("run-1"))
            queue.add(_run_key("run-2"))
            await asyncio.sleep(0.02)
        if len(order) == 5:
            done.set()
        return None

    queue = WorkQueue({"AssetRun": reconcile, "AssetSchedule": reconcile}, workers=1)
    queue.add(_schedule_key("hourly"))  # woken by a change: the ordinary lane
    queue.add(_run_key("run-0"))
    asyncio.run(_run_until(queue, done))
    assert order == ["hourly", "run-0", "hourly", "run-1", "run-2"]


def test_a_change_during_a_reconcile_keeps_the_lane_it_was_added_with() -> None:
    order: list[str] = []
    done = asyncio.Event()

    async def reconcile(key: ObjectKey) -> float | None:
        order.append(key.name)
        if key.name == "hourly" and order.count("hourly") == 1:
            queue.add(key)  # a run's event while the schedule is being reconciled
            queue.add(_run_key("run-1"))
            queue.add(_run_key("run-2"))
        if key.name == "run-1":
            await asyncio.sleep(0.05)  # the schedule's second reconcile is due meanwhile, behind run-2
        if len(order) == 4:
            done.set()
        return None

    queue = WorkQueue({"AssetRun": reconcile, "AssetSchedule": reconcile}, workers=1)
    queue.add(_schedule_key("hourly"), urgent=True)
    asyncio.run(_run_until(queue, done))
    assert order == ["hourly", "run-1", "run-2", "hourly"]


def test_depth_counts_picked_up_keys_as_busy_and_handed_over_ones_as_due() -> None:
    release = asyncio.Event()
    seen: dict[str, object] = {}

    async def reconcile(key: ObjectKey) -> float | None:
        await release.wait()
        return None

    async def main() -> None:
        queue = WorkQueue({"AssetRun": reconcile}, workers=2)
        for number in range(5):
            queue.add(_run_key(f"run-{number}"))
        queue.add(_run_key("later"), delay=60)
        task = asyncio.create_task(queue.run())
        await asyncio.sleep(0.05)  # every due key handed to the ready queue; two picked up
        seen["loaded"] = queue.depth()
        release.set()
        await asyncio.sleep(0.05)
        seen["drained"] = queue.depth()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert seen["loaded"] == (3, 1, 2, 2)  # due (not picked up), delayed, busy workers, workers
    assert seen["drained"] == (0, 1, 0, 2)
