"""RunLogs against a local HTTP server playing the API server's Pod log endpoint: event lines are parsed,
user output ignored, malformed event lines counted, the run is woken once the log is settled, and every
event line is read by a reconcile it woke or that came after it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from kubernetes import client

from kubeasset.controller.kube import KubeIO
from kubeasset.controller.run_logs import RunLogs
from kubeasset.sdk.events import AssetStarted

LOG = (
    "hello from user code\n"
    '@@kubeasset@@ {"v":1,"type":"AssetStarted","time":"2024-05-01T02:00:01Z","run":"r-1","key":"orders"}\n'
    "@@kubeasset@@ {not json\n"
    'partial output @@kubeasset@@ {"v":1,"type":"AssetStarted","time":"2024-05-01T02:00:02Z","run":"r-1","key":"b"}'
)


def ended_pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "r-1", "namespace": "shop", "uid": "pod-uid"},
        "status": {"containerStatuses": [{"name": "run", "state": {"terminated": {"exitCode": 0}}}]},
    }


async def follow_once(text: str) -> tuple[RunLogs, list[tuple[str, str, float]], list[dict[str, str]]]:
    requests: list[dict[str, str]] = []

    async def pod_log(request: web.Request) -> web.Response:
        requests.append(dict(request.query))
        return web.Response(text=text)

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/shop/pods/r-1/log", pod_log)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    io = KubeIO(configuration)
    wakes: list[tuple[str, str, float]] = []
    logs = RunLogs(io, lambda namespace, run, delay: wakes.append((namespace, run, delay)))
    try:
        logs.follow(ended_pod(), "r-1")
        for _ in range(200):
            snapshot = logs.snapshot("pod-uid")
            if snapshot is not None and snapshot.settled:
                break
            await asyncio.sleep(0.01)
    finally:
        await logs.close()
        await io.close()
        await runner.cleanup()
    return logs, wakes, requests


def test_a_finished_pods_log_is_read_whole_once_and_settles() -> None:
    logs, wakes, requests = asyncio.run(follow_once(LOG))
    snapshot = logs.snapshot("pod-uid")
    assert snapshot is not None and snapshot.settled and snapshot.caught_up
    assert [event.asset_key.to_user_string() for event in snapshot.events if isinstance(event, AssetStarted)] == [
        "orders",
        "b",
    ]
    assert snapshot.unreadable_lines == 1
    assert requests == [{"container": "run", "follow": "false"}]
    assert wakes and wakes[-1] == ("shop", "r-1", 0.0)


def test_a_released_pod_is_not_followed_again() -> None:
    async def scenario() -> RunLogs:
        io = KubeIO(client.Configuration(host="http://127.0.0.1:9"))
        logs = RunLogs(io, lambda *_: None)
        logs.release("pod-uid")
        logs.follow(ended_pod(), "r-1")
        await logs.close()
        await io.close()
        return logs

    assert asyncio.run(scenario()).snapshot("pod-uid") is None


def running_pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "r-1", "namespace": "shop", "uid": "pod-uid"},
        "status": {"containerStatuses": [{"name": "run", "state": {"running": {"startedAt": "2024-05-01T02:00:00Z"}}}]},
    }


def started(key: str) -> str:
    return f'@@kubeasset@@ {{"v":1,"type":"AssetStarted","time":"2024-05-01T02:00:01Z","run":"r-1","key":"{key}"}}\n'


class CoalescingQueue:
    """The work queue as the run's log follower sees it: a wake due later than one already due is merged
    into the earlier one, and a due wake is one reconcile, which takes the log's snapshot."""

    def __init__(self) -> None:
        self.logs: RunLogs | None = None
        self.due: float | None = None
        self.snapshots: list[int] = []
        self.snapshot_taken = asyncio.Event()

    def wake(self, namespace: str, run: str, delay: float) -> None:
        at = asyncio.get_running_loop().time() + delay
        self.due = at if self.due is None else min(self.due, at)

    async def drive(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            if self.due is not None and self.due <= loop.time():
                self.due = None
                snapshot = self.logs.snapshot("pod-uid") if self.logs is not None else None
                self.snapshots.append(len(snapshot.events) if snapshot is not None else 0)
                self.snapshot_taken.set()
            await asyncio.sleep(0.005)


def test_a_line_after_a_reconcile_that_came_early_still_reaches_the_status() -> None:
    """The CI failure of test_deleting_a_running_pod_fails_the_run_as_deleted: two lines in one chunk ask
    for a wake now and one 0.4 s later, the queue merges the later into the earlier, that reconcile reads
    both; a third line arriving before the 0.4 s must still bring a reconcile, or the run's status keeps
    showing the asset Pending until the next line (a long asset: never)."""

    async def scenario() -> list[int]:
        queue = CoalescingQueue()

        async def pod_log(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            await response.prepare(request)
            if request.query["follow"] == "true":
                await response.write((started("before_slow") + started("after_before")).encode())
                queue.snapshot_taken.clear()
                await queue.snapshot_taken.wait()  # the reconcile the first line asked for has read the log
                await response.write(started("slow").encode())
                await asyncio.sleep(5)  # the asset runs on; the stream stays open
            return response

        app = web.Application()
        app.router.add_get("/api/v1/namespaces/shop/pods/r-1/log", pod_log)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        io = KubeIO(client.Configuration(host=f"http://127.0.0.1:{runner.addresses[0][1]}"))
        logs = RunLogs(io, queue.wake)
        queue.logs = logs
        try:
            logs.follow(running_pod(), "r-1")
            await queue.drive(1.5)
        finally:
            await logs.close()
            await io.close()
            await runner.cleanup()
        return queue.snapshots

    snapshots = asyncio.run(scenario())
    assert 2 in snapshots  # the merged reconcile read the first chunk
    assert snapshots[-1] == 3  # and a later one the line that came after it
