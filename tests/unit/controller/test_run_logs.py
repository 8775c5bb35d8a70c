"""RunLogs against a local HTTP server playing the API server's Pod log endpoint: event lines are parsed,
user output ignored, malformed event lines counted, and the run is woken once the log is settled."""

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
